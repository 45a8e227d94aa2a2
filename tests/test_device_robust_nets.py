"""Hostile network and feature files on the device (issue 17, items 2 and 4): every field the
runtime trusts is checked when the file is loaded, and a bad one raises ValueError there."""
import json
import struct
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import emlearn_lab as eml
from emlearn_lab.nets.netfile import HEADER, LAYER, to_bytes

pytestmark = pytest.mark.device


def _mlp(X, y, activation):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(hidden_layer_sizes=(6,), activation=activation, max_iter=60,
                             random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def nets(device, classification_data):
    """(float32 file, int8 file) of one small iris network; both runtimes on the device."""
    X_train, X_test, y_train, _ = classification_data["iris"]
    clf = _mlp(X_train, y_train, "tanh")
    f32 = eml.convert(clf)
    i8 = eml.convert(clf, weights="int8", X_calib=X_train)
    device.deploy(f32, X_test[:3], name="netf", repeats=1)
    device.deploy(i8, X_test[:3], name="neti", repeats=1)
    return to_bytes(f32), to_bytes(i8)


def _load_error(device, data: bytes) -> str:
    """'LOADED', or the ValueError that loading `data` raises on the device."""
    device.write_file("bad.emn", data, skip_unchanged=False)
    return device.exec(
        "import emlnet\ntry:\n emlnet.load('bad.emn')\n print('LOADED')\n"
        "except ValueError as e:\n print('ValueError:', e)\n").strip()


def _float_section(data: bytes) -> int:
    """Byte offset of the first layer's weights in a float32 file."""
    n_layers = struct.unpack_from(HEADER, data, 0)[7]
    return 16 + 8 * n_layers


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("where", ["weight", "last bias"])
def test_float32_non_finite_parameters_refused(device, nets, value, where):
    good, _ = nets
    bad = bytearray(good)
    at = _float_section(good) + 4 * 5 if where == "weight" else len(good) - 4
    struct.pack_into("<f", bad, at, value)
    assert _load_error(device, bytes(good)) == "LOADED"
    assert _load_error(device, bytes(bad)).startswith("ValueError: corrupt network file: "
                                                      "non-finite")


def test_float32_output_shift_refused(device, nets):
    good, _ = nets
    header = list(struct.unpack_from(HEADER, good, 0))
    header[8] = 5                 # float32 scores are not scaled: the writer puts 0
    bad = struct.pack(HEADER, *header) + good[16:]
    assert "output shift" in _load_error(device, bad)


def _int8_offsets(data: bytes) -> dict:
    """Offsets of the int8 file's input shifts and the first layer's sections."""
    (_, _, _, _, _, nf, _, nl, _) = struct.unpack_from(HEADER, data, 0)
    n_in, n_out, _, lut = struct.unpack_from(LAYER, data, 16)
    at = {"input_shift": 16 + 8 * nl}
    at["weights"] = at["input_shift"] + (-(-nf // 4) * 4)
    at["const"] = at["weights"] + (-(-(n_in * n_out) // 4) * 4)
    at["right_shift"] = at["const"] + 4 * n_out
    at["n_in"] = n_in
    return at


@pytest.mark.parametrize("case,message", [
    ("const", "overflow"),            # a bias beyond 2**29: int32 sums overflow on a board
    ("input shift", "input shift"),   # the writer keeps them within +-120
    ("right shift", "right shift"),
])
def test_int8_fields_refused(device, nets, case, message):
    _, good = nets
    at = _int8_offsets(good)
    bad = bytearray(good)
    if case == "const":
        struct.pack_into("<i", bad, at["const"] + 4, 2**31 - 5)
    elif case == "input shift":
        bad[at["input_shift"] + 1] = 127
    else:
        bad[at["right_shift"]] = 32
    assert _load_error(device, bytes(good)) == "LOADED"
    assert message in _load_error(device, bytes(bad))


def test_int8_predict_proba_of_extreme_scores_is_bounded(device, nets):
    """Sigmoid of a one-output network's huge logit: a probability, not an overflow."""
    device.exec("import emlnet\nn = emlnet.load('neti.emn')\n"
                "n.n_outputs = 1\nn._values = lambda: [-1e30]\n")
    p = device.eval("n.predict_proba(__import__('array').array('f', [1.0] * 4))")
    assert p == [1.0, 0.0]


@pytest.fixture(scope="module")
def fx_runtime(device):
    """The feature runtime and the TimeStats extractor on the device, and a good .fx spec."""
    from emlearn_lab.runtime.feature_bundle import feature_bundle
    X = np.random.default_rng(0).normal(size=(4, 32, 3)).astype("f4")
    fx = eml.features.TimeStats(stats=("mean", "max")).fit(X)
    bundle = feature_bundle(device.target, [fx], "fx_good")
    for art in bundle.files:
        device.write_file(art.path, art.data)
    return json.loads(bundle.files[-1].data)


@pytest.mark.parametrize("module,cls", [
    ("emlfx_core", "FORMAT_VERSION"),   # an int: "'int' object isn't callable"
    ("emlfx_core", "param"),            # a function, called with the params dict
    ("emlfx_core", "Input"),            # a class, but not an extractor
    ("emlfx_time", "_all_series"),
    ("emlfx_spectral", "twiddles"),
])
def test_feature_file_names_only_extractors(device, fx_runtime, module, cls):
    spec = json.loads(json.dumps(fx_runtime))
    spec["steps"][0].update(module=module, cls=cls)
    device.write_file("bad.fx", json.dumps(spec).encode(), skip_unchanged=False)
    out = device.exec("import emlfx\ntry:\n emlfx.load('bad.fx')\n print('LOADED')\n"
                      "except ValueError as e:\n print('ValueError:', e)\n"
                      "except Exception as e:\n print('OTHER', type(e).__name__, e)\n").strip()
    assert out.startswith("ValueError:") and "extractor" in out, out
    device.write_file("good.fx", json.dumps(fx_runtime).encode(), skip_unchanged=False)
    assert device.eval("__import__('emlfx').load('good.fx').n_features") > 0
