"""The tree runtime never hangs, crashes or writes out of bounds on the device (issue 17): a
corrupt model or tie file raises ValueError when it is loaded, and a row of the wrong type
raises ValueError, on the viper kernels and on their bytecode twins alike. The host's parser
refuses the same files."""
import struct

import numpy as np
import pytest

import emlearn_lab as eml
from emlearn_lab.trees.modelfile import (SHORT_VERSION, from_bytes, header_bytes,
                                         rewrite_header, section_offsets, to_bytes,
                                         unpack_header)

pytestmark = pytest.mark.device

KERNELS = ["forest_%s%d%s" % (layout, bits, leaves)
           for layout in ("tiny", "small", "large", "packed16t", "packed24t", "packed32t",
                          "packed16r", "packed24r", "packed32r")
           for bits in (16, 32) for leaves in "sd"]
# A generous bound for one device call of a few rows: far above what it takes on a loaded
# host, and what turns a hang into a failed test instead of a blocked run.
CALL_S = 60

# Device side: load a file with the viper kernels or the bytecode ones (what a port without
# native code runs), then predict pseudo-random rows. Returns "refused: <message>" if load()
# raised ValueError, else the predictions (and, for classifiers, the largest probability).
_HELPER = """
import array, emltrees, emltrees_pure
def _rb_try(path, ties, pure, rows):
    k = emltrees._k
    if pure:
        emltrees._k = emltrees_pure
    try:
        try:
            m = emltrees.load(path, ties)
        except ValueError as e:
            return 'refused: %s' % e
    finally:
        emltrees._k = k
    x = array.array('h' if m.features == 1 else 'f', [0] * m.n_features)
    seed = 7
    out = []
    for r in range(rows):
        for j in range(m.n_features):
            seed = (seed * 1103515245 + 12345) & 0x3fffffff
            v = (seed >> 6) % 65536 - 32768
            x[j] = 0 if r == 0 else v if m.features == 1 else v / (64.0 if r & 1 else 2048.0)
        out.append(m.predict(x))
        if m.kind == 0:
            out.append(max(m.predict_proba(x)))
    return out
"""


def _compiled(dev, name, native, source=None):
    from emlearn_lab.runtime.build import compile_source
    from emlearn_lab.device_src import device_source
    return compile_source(device_source(name + ".py") if source is None else source,
                          name + ".py", dev.target, native)


@pytest.fixture(scope="module")
def rt(device):
    """The tree runtime on the device with every layout's walker, and the device helper."""
    from emlearn_lab.runtime.kernels import kernels_source
    for name in ("emlab_common", "emltrees", "emltrees_pure", "emlab_f64"):
        device.write_file(name + ".mpy", _compiled(device, name, False))
    if device.target.arch is not None:
        device.write_file("emltrees_kernels.mpy", _compiled(
            device, "emltrees_kernels", True, kernels_source(KERNELS, device.target.arch)))
        device.write_file("emlab_quant.mpy", _compiled(device, "emlab_quant", True))
    device.reset()
    device.exec(_HELPER)
    return device


@pytest.fixture(params=["viper", "bytecode"])
def runtime(request, rt):
    if request.param == "viper" and rt.target.arch is None:
        pytest.skip("this device runs no native code")
    return request.param


@pytest.fixture(scope="module")
def models(digits_forest, classification_data, regression_data):
    from sklearn.ensemble import RandomForestRegressor
    clf, _ = digits_forest
    X_train = classification_data["digits"][0]
    Xr, _, yr, _ = regression_data["diabetes"]
    reg = RandomForestRegressor(n_estimators=10, max_leaf_nodes=24, random_state=0).fit(Xr, yr)
    return {"clf": eml.convert(clf), "reg": eml.convert(reg),
            "dense": eml.compress(clf, leaf_bits=8),
            "q16": eml.compress(clf, leaf_bits=None, features="int16", X_calib=X_train),
            "i16": eml.convert(clf, features="int16")}


def _try(dev, data, runtime, ties=None, rows=12):
    """What the device does with model file `data` (and tie file bytes `ties`)."""
    dev.write_file("rb.eml", data, skip_unchanged=False)
    if ties is not None:
        dev.write_file("rb.ties", ties, skip_unchanged=False)
    code = f"_rb_try('rb.eml', {'rb.ties' if ties is not None else None!r}, " \
           f"{runtime == 'bytecode'}, {rows})"
    try:
        return dev.eval(code, timeout_s=CALL_S)
    except eml.DeviceRuntimeError:
        raise
    except eml.DeviceError as e:
        # Hung (or crashed): restart it so that the other tests still run.
        dev.reset()
        dev.exec(_HELPER)
        pytest.fail(f"the device hung or crashed on this file: {e}")


def _child_width(data):
    return (2, 4, 1)[unpack_header(data)[4]]


def _zero_row_path(model):
    """Decision nodes the all-zero row visits (the device helper's first row)."""
    key = 0x80000000 if model.features == "float32" else 0x8000
    path = []
    for root in model.roots:
        n = int(root)
        while n < model.n_nodes:
            path.append(n)
            n = int(model.left[n] if key <= model.threshold[n] else model.right[n])
    return path


def _step_into_leaves(model, layout):
    """Both children of a node on the zero row's path step to just past the decision nodes
    (into the leaf range, below the child base). A one-bit flip of a real file does this;
    the viper walker then reads past the node sections and loops."""
    data = to_bytes(model, layout=layout)
    n_nodes, base, w = model.n_nodes, unpack_header(data)[16], _child_width(data)
    at = section_offsets(data)
    for n in reversed(_zero_row_path(model)):
        step = n_nodes - n
        if step < base:
            out = bytearray(data)
            for side in ("left", "right"):
                out[at[side] + w * n: at[side] + w * (n + 1)] = step.to_bytes(w, "little")
            return bytes(out)
    raise AssertionError("no node to corrupt")


def _packed_node(data, n, **fields):
    """A packed file with fields of node n's word replaced (feature, index, left, right)."""
    from emlearn_lab.trees.packing import Packing
    p = Packing.from_code(unpack_header(data)[15])
    at = section_offsets(data)
    width = 4 if p.word_bytes == 4 else 2
    lo = at["feature"] + width * n
    word = int.from_bytes(data[lo:lo + width], "little")
    if p.word_bytes == 3:
        word |= data[at["right"] + n] << 16
    shifts = {"feature": (0, p.fb), "index": (p.fb, p.tb), "left": (p.fb + p.tb, p.lb),
              "right": (p.fb + p.tb + p.lb, p.rb)}
    for name, value in fields.items():
        shift, bits = shifts[name]
        assert 0 <= value < 1 << bits, (name, value, bits)
        word = word & ~(((1 << bits) - 1) << shift) | value << shift
    out = bytearray(data)
    out[lo:lo + width] = (word & 0xFFFF if p.word_bytes == 3 else word).to_bytes(width, "little")
    if p.word_bytes == 3:
        out[at["right"] + n] = word >> 16
    return bytes(out)


def _two_threshold_model():
    """Two float32 splits whose keys differ by one: a packed file with 1-bit threshold
    offsets from the smaller key."""
    from emlearn_lab.trees.model import TreeModel
    one = 1 << 8
    return TreeModel(kind="classifier", features="float32", n_features=1,
                     feature=np.array([0, 0]), threshold=np.array([0xBFC00000, 0xBFC00001]),
                     left=np.array([1, 2]), right=np.array([4, 3]), roots=np.array([0]),
                     leaves=np.array([[one, 0], [0, one], [one, 0]]), leaf_shift=8,
                     classes_=np.array([0, 1]))


def _sparse_value(data, k, value):
    out = bytearray(data)
    at = section_offsets(data)["leaf_value"] + 4 * k
    out[at:at + 4] = struct.pack("<i", value)
    return bytes(out)


def _corrupt(models, case):
    """(model file bytes, tie file bytes or None, what the refusal message says)."""
    clf, reg = models["clf"], models["reg"]
    if case == "step into the leaves (regressor)":
        return _step_into_leaves(reg, "small"), None, "does not follow"
    if case == "step into the leaves (tiny)":
        return _step_into_leaves(clf, "tiny"), None, "does not follow"
    if case == "step into the leaves (large)":
        return _step_into_leaves(clf, "large"), None, "does not follow"
    if case == "child base raised (large)":
        good = to_bytes(clf, layout="large")
        # Leaf codes base .. base + 2 become steps: today's check let that through.
        return rewrite_header(good, child_base=unpack_header(good)[16] + 3), None, "does not follow"
    if case.endswith("(packed)"):
        good = to_bytes(clf, layout="packed", word_bytes=4, table=True)
        head = unpack_header(good)
        n_nodes, base = head[9], head[16]
        path = _zero_row_path(clf)
        if case == "step past the nodes (packed)":
            n = next(n for n in path if n_nodes - n < base)
            return _packed_node(good, n, right=n_nodes - n), None, "does not follow"
        if case == "left code past the leaves (packed)":
            return _packed_node(good, path[0], left=clf.n_leaves + 1), None, "does not follow"
        if case == "threshold index past its feature's run (packed)":
            from emlearn_lab.trees.packing import Packing
            tb = Packing.from_code(unpack_header(good)[15]).tb
            return _packed_node(good, path[0], index=(1 << tb) - 1), None, "does not follow"
        if case == "last node steps to the next (packed)":
            return _packed_node(good, n_nodes - 1, left=0), None, "does not follow"
        if case == "table offsets decreasing (packed)":
            bad = bytearray(good)
            at = section_offsets(good)["left"] + 2 * 3
            bad[at:at + 2] = b"\xff\xff"
            return bytes(bad), None, "does not follow"
        if case == "no right-code bits (packed)":
            return rewrite_header(good, packing=unpack_header(good)[15] | 0x1FF), None, "packed"
    if case == "smallest threshold plus offset past 2**32 (packed)":
        good = to_bytes(_two_threshold_model(), layout="packed", table=False)
        at = section_offsets(good)["threshold"]
        return good[:at] + b"\xff\xff\xff\xff" + good[at + 4:], None, "does not follow"
    if case == "node widths in a tiny file":
        return rewrite_header(to_bytes(clf, layout="tiny"), packing=1), None, "node widths"
    if case == "65535 outputs (sparse)":
        return rewrite_header(to_bytes(clf), n_outputs=65535), None, "outputs"
    if case == "2 outputs (regressor)":
        return rewrite_header(to_bytes(reg), n_outputs=2), None, "outputs"
    if case == "all-zero dense leaves":
        good = to_bytes(models["dense"])
        at = section_offsets(good)["leaf_value"]
        n = unpack_header(good)[11]
        return good[:at] + bytes(n) + good[at + n:], None, "leaf"
    if case == "dense value above leaf_max":
        good = to_bytes(models["dense"], layout="small")
        bad = bytearray(good)
        bad[section_offsets(good)["leaf_value"]] = 255
        return rewrite_header(bytes(bad), leaf_max=200), None, "leaf"
    if case == "leaf_shift lowered (classifier)":
        good = to_bytes(clf)
        return rewrite_header(good, leaf_shift=unpack_header(good)[13] - 20), None, "leaf"
    if case == "leaf_shift raised (classifier)":
        good = to_bytes(clf)
        return rewrite_header(good, leaf_shift=unpack_header(good)[13] + 3), None, "leaf"
    if case == "negative leaf_shift (classifier)":
        return rewrite_header(to_bytes(clf), leaf_shift=-3), None, "leaf"
    if case == "leaf values sum past 2**leaf_shift":
        # The leaf whose largest value is furthest below leaf_max: raising that value to
        # leaf_max (itself in range) takes the leaf's sum far past 2**leaf_shift.
        good = to_bytes(clf)
        rows = clf.leaves
        leaf = int(np.argmin(rows.max(axis=1)))
        k = int(np.count_nonzero(rows[:leaf])) + int(np.argmax(rows[leaf][rows[leaf] != 0]))
        return _sparse_value(good, k, unpack_header(good)[12]), None, "leaf"
    if case == "quantiser offset out of range":
        good = to_bytes(models["q16"])
        bad = bytearray(good)
        at = section_offsets(good)["quantiser"] + 4 * 5
        bad[at:at + 4] = struct.pack("<i", -2**31)
        return bytes(bad), None, "quantiser"
    if case == "quantiser shift out of range":
        good = to_bytes(models["q16"])
        bad = bytearray(good)
        bad[section_offsets(good)["quantiser"] + 4 * 64 + 3] = 0x80
        return bytes(bad), None, "quantiser"
    if case.endswith("(short header)"):
        good = to_bytes(models["dense"])
        assert good[4] == SHORT_VERSION
        flags = 0xE0 if case.startswith("flag bits") else 3 << 1
        return good[:5] + bytes([flags | good[5]]) + good[6:], None, "kind/features/layout"
    if case == "long header cut to the short one's length":
        good = rewrite_header(to_bytes(models["dense"]), version=2)
        return good[:28], None, "shorter than the 40-byte header"
    if case == "leaf_bits -5":
        return rewrite_header(to_bytes(clf), leaf_bits=-5), None, "leaf_bits"
    ties = clf.leaf_proba.astype("<f8")
    if case == "tie file with NaN":
        bad = ties.copy()
        bad[3, 2] = np.nan
        return to_bytes(clf), bad.tobytes(), "tie file"
    if case == "tie file with a negative value":
        bad = ties.copy()
        bad[0, 0] = -0.5
        return to_bytes(clf), bad.tobytes(), "tie file"
    if case == "tie file with inf":
        bad = ties.copy()
        bad[-1, -1] = np.inf
        return to_bytes(clf), bad.tobytes(), "tie file"
    if case == "tie file above 1":
        bad = ties.copy()
        bad[5, 1] = 1.5
        return to_bytes(clf), bad.tobytes(), "tie file"
    if case == "tie file truncated":
        return to_bytes(clf), ties.tobytes()[:-8], "tie file"
    raise KeyError(case)


CASES = ["step into the leaves (regressor)", "step into the leaves (tiny)",
         "step into the leaves (large)", "child base raised (large)", "65535 outputs (sparse)",
         "2 outputs (regressor)", "all-zero dense leaves", "dense value above leaf_max",
         "leaf_shift lowered (classifier)", "leaf_shift raised (classifier)",
         "negative leaf_shift (classifier)", "leaf values sum past 2**leaf_shift",
         "quantiser offset out of range", "quantiser shift out of range", "leaf_bits -5",
         "tie file with NaN", "tie file with a negative value", "tie file with inf",
         "tie file above 1", "tie file truncated", "step past the nodes (packed)",
         "left code past the leaves (packed)",
         "threshold index past its feature's run (packed)",
         "last node steps to the next (packed)", "table offsets decreasing (packed)",
         "no right-code bits (packed)", "smallest threshold plus offset past 2**32 (packed)",
         "node widths in a tiny file", "flag bits beyond the layout (short header)",
         "features 3 (short header)", "long header cut to the short one's length"]


@pytest.mark.parametrize("case", CASES)
def test_corrupt_file_refused_at_load(rt, runtime, models, case):
    data, ties, message = _corrupt(models, case)
    out = _try(rt, data, runtime, ties)
    assert isinstance(out, str) and out.startswith("refused: "), out
    assert message in out and "\n" not in out
    if ties is None:
        with pytest.raises(eml.ModelFileError):
            from_bytes(data)


@pytest.mark.parametrize("name,layout", [("clf", "tiny"), ("clf", "large"), ("reg", "small"),
                                         ("dense", "tiny"), ("q16", "small"),
                                         ("i16", "large"), ("clf", "packed"),
                                         ("i16", "packed"), ("dense", "packed")])
def test_good_files_still_load_and_predict(rt, runtime, models, name, layout):
    model = models[name]
    data = to_bytes(model, layout=layout)
    ties = model.leaf_proba.astype("<f8").tobytes() if model.leaf_proba is not None else None
    out = _try(rt, data, runtime, ties)
    assert isinstance(out, list), out
    if model.kind == "classifier":
        assert all(0 <= c < model.n_outputs for c in out[::2])
        assert all(0 < p <= 1.0 for p in out[1::2])
    from_bytes(data)


@pytest.mark.parametrize("version", [2, SHORT_VERSION])
def test_either_header_form_loads_alike(rt, runtime, models, version):
    """A compressed model's file has the short header; the long one holds the same fields."""
    good = to_bytes(models["dense"])
    data = rewrite_header(good, version=version)
    assert len(data) == len(good) + (12 if version == 2 else 0)
    assert _try(rt, data, runtime) == _try(rt, good, runtime)
    assert from_bytes(data).scores(np.zeros((1, models["dense"].n_features), np.float32)) \
        .tolist() == models["dense"].scores(np.zeros((1, models["dense"].n_features),
                                                     np.float32)).tolist()


def _mutants(good, rng, n):
    """Random bit flips and byte sets of a good file (header and payload alike)."""
    out = []
    for _ in range(n):
        bad = bytearray(good)
        for _ in range(int(rng.integers(1, 4))):
            # Half of the mutations hit the header, where one byte changes the most.
            at = int(rng.integers(0, header_bytes(good[4]) if rng.random() < 0.3
                                  else len(good)))
            if rng.random() < 0.5:
                bad[at] ^= 1 << int(rng.integers(0, 8))
            else:
                bad[at] = int(rng.integers(0, 256))
        out.append(bytes(bad))
    return out


@pytest.mark.parametrize("name,layout", [("reg", "small"), ("clf", "large"), ("dense", "tiny"),
                                         ("q16", "small"), ("clf", "packed"),
                                         ("dense", "packed")])
def test_mutated_files_never_hang_and_host_agrees(rt, runtime, models, name, layout):
    """Random mutations: every file is refused or predicts bounded results, and the host's
    parser accepts exactly the files the device accepts."""
    rng = np.random.default_rng(sum(map(ord, name + layout)))
    good = to_bytes(models[name], layout=layout)
    for bad in _mutants(good, rng, 40):
        out = _try(rt, bad, runtime, rows=3)
        try:
            host = from_bytes(bad)
        except eml.ModelFileError:
            host = None
        if isinstance(out, str):
            assert out.startswith("refused: "), out
            assert host is None, f"host accepts a file the device refuses: {out}"
            continue
        assert host is not None, "the device accepts a file the host refuses"
        if host.kind == "classifier":
            assert all(0 <= c < host.n_outputs for c in out[::2])
            assert all(0 <= p <= 1.001 for p in out[1::2]), out


# -- rows of the wrong type -----------------------------------------------------------------

def _load(dev, runtime, data):
    dev.write_file("rows.eml", data, skip_unchanged=False)
    dev.exec(f"k = emltrees._k\nemltrees._k = emltrees_pure if {runtime == 'bytecode'} else k\n"
             "m = emltrees.load('rows.eml')\nemltrees._k = k", timeout_s=CALL_S)


@pytest.mark.parametrize("name,typecode,want", [
    ("clf", "i", "'f'"), ("clf", "I", "'f'"), ("clf", "h", "'f'"), ("i16", "H", "'h'"),
    ("i16", "f", "'h'"), ("i16", "i", "'h'"), ("q16", "i", "'f' or 'h'"),
    ("q16", "H", "'f' or 'h'")])
def test_rows_of_the_wrong_type_refused(rt, runtime, models, name, typecode, want):
    model = models[name]
    _load(rt, runtime, to_bytes(model))
    with pytest.raises(eml.DeviceRuntimeError,
                       match=rf"ValueError: expected array.array\({want}\) of "
                             rf"{model.n_features} features, got array\('{typecode}'\)"):
        rt.exec(f"m.predict(array.array({typecode!r}, [0] * {model.n_features}))",
                timeout_s=CALL_S)


@pytest.mark.parametrize("name,first", [("clf", "f"), ("q16", "h"), ("q16", "f"),
                                        ("i16", None)])
def test_none_row_refused_after_a_good_one(rt, runtime, models, name, first):
    model = models[name]
    _load(rt, runtime, to_bytes(model))
    if first:
        rt.exec(f"m.predict(array.array({first!r}, [0] * {model.n_features}))",
                timeout_s=CALL_S)
    for call in ("m.predict(None)", "m.scores(None)", "m.predict_proba(None)"):
        with pytest.raises(eml.DeviceRuntimeError, match="ValueError: expected array"):
            rt.exec(call, timeout_s=CALL_S)


# A fresh load first: the cached row check must not skip None on the first call either. The
# deployed copy is dropped first: two copies of the inline module did not fit the emulated
# Cortex-M3's ~198 KiB heap after the tree-runtime tests above.
_FRESH = {"inline": "import sys, gc\n_emlab_models.clear()\nsys.modules.pop('model_inline', None)"
                    "\ngc.collect()\nimport model_inline\nm = model_inline.load()\n",
          "network": "import emlnet\nm = emlnet.load('model.emn')\n"}
_BAD_ROWS = ["None", "array.array('i', [0] * 64)", "array.array('I', [0] * 64)", "5",
             "bytearray(256)"]


@pytest.mark.parametrize("row", _BAD_ROWS)
def test_inline_module_refuses_bad_rows(device, digits_forest, row):
    clf, X_test = digits_forest
    device.deploy(clf, X_test[:5], form="inline", repeats=2)
    with pytest.raises(eml.DeviceRuntimeError, match=r"ValueError: expected array.array\('f'\)"):
        device.exec("import array\n" + _FRESH["inline"] + f"m.predict({row})",
                    timeout_s=CALL_S)


@pytest.mark.parametrize("row", _BAD_ROWS)
def test_network_refuses_bad_rows(device, classification_data, row):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    X_train, X_test, y_train, _ = classification_data["digits"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(
            X_train, y_train)
    device.deploy(eml.convert(mlp, weights="float32"), X_test[:5], repeats=2)
    with pytest.raises(eml.DeviceRuntimeError, match=r"ValueError: expected array.array\('f'\)"):
        device.exec("import array\n" + _FRESH["network"] + f"m.predict({row})",
                    timeout_s=CALL_S)


def test_feature_count_beyond_the_whole_heap_refused(models):
    """n_features sizes no section of a float32 file, yet the device allocates buffers per
    feature: 65535 of them on a ~200 KiB heap (a Cortex-M board's) is refused as a corrupt or
    too-wide file, not a MemoryError (which the host would take for fragmentation)."""
    data = rewrite_header(to_bytes(models["clf"], layout="large"), n_features=65535)
    with eml.connect("virtual", heap_bytes=200 * 1024) as dev:
        for name in ("emlab_common", "emltrees", "emltrees_pure", "emlab_f64"):
            dev.write_file(name + ".mpy", _compiled(dev, name, False))
        dev.exec(_HELPER)
        got = _try(dev, data, "bytecode")
    assert got.startswith("refused: model file asks for 65535 features"), got
    assert "whole heap" in got
