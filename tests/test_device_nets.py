"""Networks on a real MicroPython interpreter: every row's scores equal the host reference
bit for bit (float32 logits or int32 accumulators), and corrupt network files raise there."""
import os
import struct
import warnings

import numpy as np
import pytest
from random_nets import random_net
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

import emlearn_lab as eml
from emlearn_lab.nets.netfile import HEADER, LAYER, to_bytes

os.environ["KERAS_BACKEND"] = "jax"
pytestmark = pytest.mark.device

# Inputs that stress the device's float32 -> int8 conversion and the float32 arithmetic.
ADVERSARIAL = [0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 0.49999997, 0.5, -0.5, 1.5, -2.5,
               3.4e38, -3.4e38, 1e10, -1e10, 126.49, 127.5, -128.5, 7.0, 16.0]


def _mlp(cls, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(random_state=0, **kw).fit(X, y)


def _with_adversarial(X, seed=0):
    rng = np.random.default_rng(seed)
    extra = rng.choice(ADVERSARIAL, size=(40, X.shape[1]))
    # Rows at the float32 limit: float32 networks overflow to inf and then NaN scores, whose
    # class must still be the same on host and device.
    limit = np.full((2, X.shape[1]), 3.4e38) * np.array([[1.0], [-1.0]])
    return np.vstack([X, extra, limit])


@pytest.mark.parametrize("weights", ["int8", "float32"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
def test_sklearn_classifier_on_device(device, classification_data, activation, weights):
    X_train, X_test, y_train, _ = classification_data["digits"]
    clf = _mlp(MLPClassifier, X_train, y_train, hidden_layer_sizes=(24, 12),
               activation=activation, max_iter=150)
    net = eml.convert(clf, weights=weights, X_calib=X_train if weights == "int8" else None)
    rows = X_test[:400] if weights == "int8" else X_test[:60]   # float32 runs in bytecode
    X = _with_adversarial(rows)
    report = device.deploy(net, X, repeats=3)
    assert report.agreement == 1.0, report.disagreements
    assert report.n_rows == len(X)
    np.testing.assert_array_equal(device.predict(rows[:20]), net.predict(rows[:20]))


@pytest.mark.parametrize("weights", ["int8", "float32"])
def test_binary_and_regressors_on_device(device, classification_data, regression_data,
                                         weights):
    X_train, X_test, y_train, _ = classification_data["breast_cancer"]
    scale = X_train.std(axis=0)
    clf = _mlp(MLPClassifier, X_train / scale, y_train, hidden_layer_sizes=(8,), max_iter=300)
    net = eml.convert(clf, weights=weights,
                      X_calib=X_train / scale if weights == "int8" else None)
    assert device.deploy(net, _with_adversarial(X_test / scale), repeats=3).agreement == 1.0
    X_train, X_test, y_train, _ = regression_data["diabetes"]
    for kw in ({}, {"hidden_layer_sizes": (6, 4), "activation": "tanh"}):
        reg = _mlp(MLPRegressor, X_train * 10, y_train, max_iter=400, **kw)
        net = eml.convert(reg, weights=weights,
                          X_calib=X_train * 10 if weights == "int8" else None)
        report = device.deploy(net, X_test * 10, repeats=3)
        assert report.agreement == 1.0
        np.testing.assert_array_equal(device.predict(X_test[:9] * 10),
                                      net.predict(X_test[:9] * 10))


def test_keras_on_device(device, classification_data):
    import keras
    X_train, X_test, y_train, _ = classification_data["digits"]
    keras.utils.set_random_seed(0)
    k = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="sigmoid"),
                          keras.layers.Dense(10, activation="softmax")])
    k.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    k.fit(X_train / 16, y_train, epochs=15, verbose=0)
    for weights in ("int8", "float32"):
        net = eml.convert(k, weights=weights,
                          X_calib=X_train / 16 if weights == "int8" else None)
        rows = X_test[:300] / 16 if weights == "int8" else X_test[:60] / 16
        assert device.deploy(net, rows, repeats=3).agreement == 1.0


def test_bytecode_int8_kernel_matches(classification_data, monkeypatch):
    """A port without native code runs the bytecode twin of the viper kernel: same ints."""
    from emlearn_lab.runtime.build import Target
    from emlearn_lab.device.transport import Device
    X_train, X_test, y_train, _ = classification_data["digits"]
    clf = _mlp(MLPClassifier, X_train, y_train, hidden_layer_sizes=(16,), activation="tanh",
               max_iter=100)
    net = eml.convert(clf, weights="int8", X_calib=X_train)
    with eml.connect("virtual") as dev:
        monkeypatch.setattr(Device, "target", property(lambda self: Target(6, 3, None)))
        with pytest.warns(RuntimeWarning, match="bytecode int8 kernel"):
            report = dev.deploy(net, _with_adversarial(X_test[:100]), repeats=2)
        assert report.agreement == 1.0
        assert "emlnet_kernels.mpy" not in [path for path, *_ in report.files]


def test_inline_form_is_for_trees(device, classification_data):
    X_train, _, y_train, _ = classification_data["iris"]
    net = eml.convert(_mlp(MLPClassifier, X_train, y_train, max_iter=50))
    with pytest.raises(eml.InputError, match="form='inline' is for trees"):
        device.deploy(net, form="inline")


@pytest.fixture(scope="module")
def good_net(device, classification_data):
    X_train, X_test, y_train, _ = classification_data["digits"]
    clf = _mlp(MLPClassifier, X_train, y_train, hidden_layer_sizes=(12, 8), activation="tanh",
               max_iter=100)
    net = eml.convert(clf, weights="int8", X_calib=X_train)
    device.deploy(net, X_test[:5], name="goodnet", repeats=2)
    return to_bytes(net)


def _corrupt_nets(good: bytes) -> dict:
    header = list(struct.unpack(HEADER, good[:16]))
    out = {"truncated": (good[:-7], "header says"), "trailing": (good + b"\0" * 4, "header says"),
           "short": (good[:9], "shorter than"), "magic": (b"EMLT" + good[4:], "not an emlearn"),
           "version": (good[:4] + b"\x07" + good[5:], "version 1")}
    h = header.copy()
    h[7] = 4000                       # n_layers beyond the file
    out["layers"] = (struct.pack(HEADER, *h) + good[16:], "truncated in the layer table")
    d = bytearray(good)
    n_in, n_out, act, lut = struct.unpack_from(LAYER, good, 16 + 8)
    struct.pack_into(LAYER, d, 16 + 8, n_in + 1, n_out, act, lut)
    out["chain"] = (bytes(d), "does not chain")
    d = bytearray(good)
    struct.pack_into(LAYER, d, 16 + 8, n_in, 65535, act, lut)
    out["huge width"] = (bytes(d), "does not chain")
    d = bytearray(good)
    struct.pack_into(LAYER, d, 16, 64, 12, 9, 1)
    out["activation"] = (bytes(d), "does not chain|bad activation")
    return out


@pytest.mark.parametrize("case", ["truncated", "trailing", "short", "magic", "version", "layers",
                                  "chain", "huge width", "activation"])
def test_corrupt_network_file_raises_on_device(device, good_net, case):
    data, message = _corrupt_nets(good_net)[case]
    device.write_file("bad.emn", data, skip_unchanged=False)
    with pytest.raises(eml.DeviceRuntimeError, match=message):
        device.exec("import emlnet\nemlnet.load('bad.emn')")
    assert device.eval("1 + 1") == 2


def test_random_corruptions_never_crash_the_device(device, good_net):
    """Flip bytes anywhere in the file (1000 mutants): each loads and predicts, or raises
    ValueError; the device survives them all (a crash would lose the link)."""
    rng = np.random.default_rng(0)
    mutants = []
    for _ in range(1000):
        d = bytearray(good_net)
        for pos in rng.integers(0, len(d), size=rng.integers(1, 4)):
            d[pos] = int(rng.integers(0, 256))
        mutants.append(bytes(d))
    device.write_file("mutants.bin", b"".join(mutants), skip_unchanged=False)
    code = f"""
import emlnet, array
n = {len(good_net)}
x = array.array('f', [3.0] * 64)
loaded = failed = 0
with open('mutants.bin', 'rb') as f:
    for i in range({len(mutants)}):
        with open('one.emn', 'wb') as g:
            g.write(f.read(n))
        try:
            m = emlnet.load('one.emn')
            m.predict(x)
            m.scores(x)
            loaded += 1
        except ValueError:
            failed += 1
"""
    device.exec(code, timeout_s=120)
    loaded, failed = device.eval("(loaded, failed)")
    assert loaded + failed == len(mutants) and failed > 0
    assert device.eval("1 + 1") == 2


def test_network_too_big_for_heap(classification_data):
    X_train, X_test, y_train, _ = classification_data["digits"]
    wide = _mlp(MLPClassifier, X_train, y_train, hidden_layer_sizes=(512, 256), max_iter=2)
    with eml.connect("virtual", heap_bytes=512 * 1024) as dev:
        with pytest.raises(eml.DeviceMemoryError, match=r"does not fit the device heap.*"
                                                        r"weights='int8'"):
            dev.deploy(wide, X_test[:5])
        # The device survives; the int8 version (4x smaller) loads and is exact.
        small = eml.convert(wide, weights="int8", X_calib=X_train)
        assert dev.deploy(small, X_test[:50], repeats=2).agreement == 1.0


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_int8_exact_on_wildly_scaled_weights(device, classification_data, activation):
    """Weights and biases over 24 decades: the int8 scales saturate or lose precision, but
    the device still computes exactly what the host computes."""
    X_train, X_test, y_train, _ = classification_data["wine"]
    clf = _mlp(MLPClassifier, X_train, y_train, hidden_layer_sizes=(6, 4),
               activation=activation, max_iter=50)
    scale = 10.0 ** np.linspace(-12, 12, 6)
    clf.coefs_[0] = clf.coefs_[0] * scale[None, :]
    clf.intercepts_[0] = clf.intercepts_[0] * scale
    clf.coefs_[1] = clf.coefs_[1] / scale[:, None]
    net = eml.convert(clf, weights="int8", X_calib=X_train)
    assert device.deploy(net, _with_adversarial(X_test), repeats=2).agreement == 1.0


@pytest.mark.parametrize("weights", ["int8", "float32"])
def test_random_networks_exact_on_device(device, weights):
    """20 random networks each, with random and adversarial rows: device == host bit for bit."""
    rng = np.random.default_rng(42 if weights == "int8" else 43)
    for i in range(20):
        net, X = random_net(rng, weights)
        report = device.deploy(net, _with_adversarial(X, seed=i), name="rnd", repeats=1)
        assert report.agreement == 1.0, (i, net, report.disagreements[:3])
