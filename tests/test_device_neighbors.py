"""Nearest neighbours on a real MicroPython interpreter: every row's votes or value equal the
host reference bit for bit (both kinds, metrics, weights and feature types, adversarial rows),
on-device learning keeps host and device equal (also across a reset), the store is bounded and
written atomically (FAT and littlefs too), corrupt files raise there and the device still
answers; the RAM estimate bounds what a load allocates."""
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

import emlearn_lab as eml
from emlearn_lab.device.session import run_rows
from emlearn_lab.exceptions import DeviceError, InputError
from emlearn_lab.neighbors.knnfile import store_bytes, to_bytes

pytestmark = pytest.mark.device

CASES = [(kind, metric, weights, features)
         for kind in ("classifier", "regressor") for metric in ("euclidean", "manhattan")
         for weights in ("uniform", "distance") for features in ("float32", "int16")]
SPECIAL = [0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 0.1, 1e19, -1e19, 3.4e38, -3.4e38]


def _fit(kind, metric, weights, features, seed=0, n=60, f=5, k=5):
    rng = np.random.default_rng(seed)
    X = rng.integers(-6, 7, (n, f)).astype(float)
    X[n // 2:] = X[:n - n // 2]                        # duplicate examples
    if features == "float32":
        X = X * 0.37
    y = rng.integers(0, 3, n) if kind == "classifier" else rng.normal(size=n) * 10
    cls = KNeighborsClassifier if kind == "classifier" else KNeighborsRegressor
    est = cls(n_neighbors=k, metric=metric, weights=weights).fit(X, y)
    return eml.convert(est, features=features), X, rng


def _rows(X, rng, features, n=40):
    """Examples themselves (distance 0, duplicated), midpoints (exact ties), and for float32
    huge and tiny values (inf distances)."""
    a, b = X[rng.integers(len(X), size=n)], X[rng.integers(len(X), size=n)]
    mid = (a + b) / 2
    rows = [a[: n // 2], np.round(mid) if features == "int16" else mid]
    if features == "float32":
        rows.append(rng.choice(SPECIAL, size=(n // 2, X.shape[1])))
        rows.append(np.full((2, X.shape[1]), 3.4e38) * [[1.0], [-1.0]])
    return np.vstack(rows)


def _host_equals_device(dev, model, X, name="model"):
    index, scores = run_rows(dev, model, model.check_X(X), name)
    host = model.scores(X)
    np.testing.assert_array_equal(scores.view(np.uint8) if scores.dtype.kind == "f" else scores,
                                  host.view(np.uint8) if host.dtype.kind == "f" else host)
    if model.kind == "classifier":
        np.testing.assert_array_equal(index, model.predict_index(X))


@pytest.mark.parametrize("kind,metric,weights,features", CASES)
def test_bit_for_bit_on_device(device, kind, metric, weights, features):
    model, X, rng = _fit(kind, metric, weights, features)
    rows = _rows(X, rng, features)
    report = device.deploy(model, rows, repeats=3)
    assert report.agreement == 1.0, report.disagreements
    assert report.n_rows == len(rows)
    assert report.native == (features == "int16")
    np.testing.assert_array_equal(device.predict(rows[:10]), model.predict(rows[:10]))


def test_int16_bytecode_search_equals_kernel(device):
    """The bytecode int16 search (ports without native code) computes what the kernel does."""
    for metric in ("euclidean", "manhattan"):
        model, X, rng = _fit("classifier", metric, "distance", "int16", seed=3)
        rows = _rows(X, rng, "int16")
        device.deploy(model, rows, repeats=1)
        device.exec("import emlknn\nemlknn._kern = None")
        try:
            _host_equals_device(device, model, rows)
        finally:
            device.reset()


def test_int16_rows_beyond_the_bound_are_refused(device):
    model, X, _ = _fit("classifier", "euclidean", "uniform", "int16", f=3)
    device.deploy(model, X[:3], repeats=1, name="bound")
    with pytest.raises(InputError, match="must lie in"):
        model.check_X([[model.max_abs + 1, 0, 0]])
    out = device.exec(f"import array\nm = _emlab_models['bound']\ntry:\n"
                      f" m.predict(array.array('h', [{model.max_abs + 1}, 0, 0]))\n"
                      "except ValueError as e:\n print('refused', e)\n"
                      f"print(m.predict(array.array('h', [{model.max_abs}, 0, 0])))")
    assert "refused int16 features must lie in" in out


@pytest.mark.parametrize("kind,features", [("classifier", "float32"), ("regressor", "int16")])
def test_learn_predict_reset_capacity(device, kind, features):
    model, X, rng = _fit(kind, "euclidean", "distance", features, seed=5)
    model.capacity = 6
    rows = _rows(X, rng, features)
    device.deploy(model, rows, repeats=1, name="learner")
    new = rows[:4] + (0.25 if features == "float32" else 1)
    targets = model.classes_[[2, 2, 1, 0]] if kind == "classifier" else [1.5, -2.25, 1e6, 0.1]
    before = model.predict(new)
    assert device.learn(model, new, targets) == 4
    assert len(model.learned_X) == 4
    after = model.predict(new)
    assert not np.array_equal(before, after)          # the learned examples are the nearest
    test_rows = np.vstack([rows, new])
    np.testing.assert_array_equal(device.predict(test_rows, name="learner"),
                                  model.predict(test_rows))
    _host_equals_device(device, model, test_rows, "learner")
    # The store survives a restart: the model loads again with its learned examples.
    device.reset()
    _host_equals_device(device, model, test_rows, "learner")
    Xs, ys = device.pull_examples(model)
    np.testing.assert_array_equal(Xs, model.check_X(new))
    np.testing.assert_array_equal(ys, np.asarray(targets, dtype=ys.dtype)
                                  if kind == "classifier" else np.float32(targets))
    # Capacity: refused on the host before sending, and on the device itself.
    with pytest.raises(InputError, match="capacity 6"):
        device.learn(model, new[:3], targets[:3])
    assert device.learn(model, new[:2], targets[:2]) == 6
    y0 = 0 if kind == "classifier" else 1.0
    out = device.exec("import array\nm = _emlab_models['learner']\ntry:\n"
                      f" m.learn(array.array({'f' if features == 'float32' else 'h'!r}, "
                      f"[0] * {model.n_features}), {y0})\nexcept ValueError as e:\n print(e)")
    assert "the store is full: 6 examples learned, capacity 6" in out
    # The device learned on its own (as an app would): pull_examples brings it to the host.
    model.capacity = 7
    device.deploy(model, rows[:2], repeats=1, name="learner")
    device.exec("import array\nm = _emlab_models['learner']\n"
                f"m.learn(array.array({'f' if features == 'float32' else 'h'!r}, "
                f"[3] * {model.n_features}), {y0})")
    Xs, _ = device.pull_examples(model)
    assert len(Xs) == len(model.learned_X) == 7
    _host_equals_device(device, model, test_rows, "learner")


def test_learn_refuses_bad_input_on_the_host(device):
    model, X, _ = _fit("classifier", "manhattan", "uniform", "float32", seed=6)
    with pytest.raises(InputError, match="dev.deploy"):
        device.learn(model, X[:1], model.classes_[:1])
    device.deploy(model, X[:3], repeats=1, name="picky")
    with pytest.raises(InputError, match="not one of the model's classes"):
        device.learn(model, X[:1], [99])
    with pytest.raises(InputError, match=r"shape \(n_rows, 5\)"):
        device.learn(model, X[:1, :3], model.classes_[:1])
    assert device.pull_examples(model)[0].shape == (0, 5)
    with pytest.raises(InputError, match="nearest-neighbour models"):
        device.learn(object(), X[:1], [0])
    # The estimator that was deployed stands for its converted model.
    est = KNeighborsRegressor(2).fit(X, X[:, 0])
    device.deploy(est, X[:3], repeats=1, name="from_estimator")
    model = device.deployments["from_estimator"].model
    assert device.learn(est, X[:1] + 0.5, [100.0]) == 1
    np.testing.assert_array_equal(device.predict(X, name="from_estimator"), model.predict(X))


def test_corrupt_store_is_refused_and_the_device_answers(device):
    model, X, rng = _fit("classifier", "euclidean", "uniform", "int16", seed=7)
    model.capacity = 3
    device.deploy(model, X[:5], repeats=1, name="fragile")
    device.learn(model, X[:2], model.classes_[[1, 1]])
    good = device.read_file("fragile.knns")
    assert good == store_bytes(model)
    for bad, why in [(good[:-2], "bytes, its header says"), (b"EMLX" + good[4:], "not an"),
                     (good[:24] + b"\xff\x7f" * ((len(good) - 24) // 2), "beyond the model's"),
                     (good[:8] + b"\x01" + good[9:], "another model")]:
        device.put_data("fragile.knns", bad)
        device.reset()
        with pytest.raises(DeviceError, match=why) as e:
            device.predict(X[:2], name="fragile")
        assert "store file fragile.knns" in str(e.value) and "deploy the model again" in \
            str(e.value)
        assert device.eval("1 + 1") == 2
    # A store beyond the capacity of the load: refused, with the remedy.
    device.put_data("fragile.knns", good)
    out = device.exec("import emlknn\ntry:\n emlknn.load('fragile.knn', 'fragile.knns', 1)\n"
                      "except ValueError as e:\n print(e)")
    assert "holds 2 examples, more than the capacity 1 (set model.capacity >= 2)" in out
    model.capacity = 1
    with pytest.raises(InputError, match="at least"):
        device.deploy(model, X[:2], name="fragile")
    model.capacity = 3
    # Deploying again writes the host's mirror of the store: all is well.
    report = device.deploy(model, X[:10], repeats=1, name="fragile")
    assert report.agreement == 1.0
    assert device.read_file("fragile.knns") == good


def test_power_cut_leaves_old_or_new_store(device):
    """A write cut short leaves a partial .tmp beside the old store: the old store loads and
    the .tmp goes. A cut between FAT's remove and rename leaves only a whole .tmp: it loads."""
    model, X, _ = _fit("classifier", "manhattan", "distance", "float32", seed=8)
    model.capacity = 4
    device.deploy(model, X[:3], repeats=1, name="cut")
    device.learn(model, X[:1] + 0.5, model.classes_[:1])
    old = device.read_file("cut.knns")
    device.put_data("cut.knns.tmp", old[:30])               # partial new store
    device.reset()
    _host_equals_device(device, model, X[:10], "cut")
    assert "cut.knns.tmp" not in dict(device.listdir())
    device.learn(model, X[1:2] + 0.5, model.classes_[:1])    # the new store, whole
    new = device.read_file("cut.knns")
    device.remove("cut.knns")
    device.put_data("cut.knns.tmp", new)
    device.reset()
    _host_equals_device(device, model, X[:10], "cut")
    assert device.read_file("cut.knns") == new


_RAM_FS = """
import os
class _RAMBlock:
    def __init__(self, n):
        self.data = bytearray(n * 512)
    def readblocks(self, b, buf, off=0):
        a = b * 512 + off
        buf[:] = self.data[a:a + len(buf)]
    def writeblocks(self, b, buf, off=0):
        a = b * 512 + off
        self.data[a:a + len(buf)] = buf
    def ioctl(self, op, arg):
        return {4: len(self.data) // 512, 5: 512}.get(op, 0)
for _vfs, _dir in ((os.VfsFat, '/fat'), (os.VfsLfs2, '/lfs')):
    try:
        os.umount(_dir)
    except OSError:
        pass
    _bd = _RAMBlock(128)
    _vfs.mkfs(_bd)
    os.mount(_vfs(_bd), _dir)
"""


def test_store_on_fat_and_littlefs(device):
    """os.rename replaces the store on both filesystems the boards use (FAT's vfs removes the
    old file first, which load() recovers from); learned examples reload from there."""
    model, X, _ = _fit("regressor", "euclidean", "uniform", "float32", seed=9)
    model.capacity = 3
    device.deploy(model, X[:2], repeats=1, name="fs")
    device.exec(_RAM_FS)
    for d in ("/fat", "/lfs"):
        out = device.exec(
            "import emlknn, array\n"
            f"m = emlknn.load('fs.knn', '{d}/s.knns', 3)\n"
            "for i in range(3):\n"
            " m.learn(array.array('f', [i] * 5), i * 0.5)\n"
            f"m2 = emlknn.load('fs.knn', '{d}/s.knns', 3)\n"
            "x = array.array('f', [1.1] * 5)\n"
            "print(m2.count, m.predict(x) == m2.predict(x), sorted(os.listdir('" + d + "')))")
        assert out.split() == ["3", "True", "['s.knns']"], (d, out)


@pytest.mark.parametrize("mutate,why", [
    (lambda d: d[:10], "shorter than the header"),
    (lambda d: b"EMLN" + d[4:], "not an emlearn_lab examples file"),
    (lambda d: d[:20] + b"\xff\xff\xff\x7f" + d[24:], "its header says"),       # n huge
    (lambda d: d[:-2], "its header says"),
    (lambda d: d[:8] + b"\x09" + d[9:], "bad kind"),                            # metric 9
    (lambda d: d[:10] + b"\x00\x00" + d[12:], "zero size"),                     # k = 0
    (lambda d: d[:10] + b"\xff\x00" + d[12:], "examples for"),                  # k > n
    (lambda d: d[:-4] + b"\x00\x00\xc0\x7f", "target nan"),                    # NaN (regressor)
    (lambda d: d[:24] + b"\x00\x00\x80\x7f" + d[28:], "non-finite"),           # inf example
])
def test_corrupt_examples_file_raises_on_device(device, mutate, why):
    model, X, _ = _fit("regressor", "euclidean", "uniform", "float32", seed=10, n=8, f=2, k=2)
    device.deploy(model, None, name="hostile")
    data = mutate(to_bytes(model))
    device.put_data("hostile_bad.knn", data)
    out = device.exec("import emlknn\ntry:\n emlknn.load('hostile_bad.knn', 'none.knns', 2)\n"
                      "except ValueError as e:\n print('refused:', e)")
    assert "refused:" in out and why in out, out
    assert device.eval("1 + 1") == 2


def test_ram_estimate_bounds_the_load(device):
    model, X, _ = _fit("classifier", "euclidean", "distance", "int16", seed=11, n=200, f=16,
                       k=7)
    model.capacity = 40
    device.reset()
    report = device.deploy(model, X[:2], repeats=1, name="ram")
    est = eml.estimate(model, "virtual", name="ram")
    measured = report.runtime_ram_bytes + report.model_ram_bytes
    assert measured <= est.ram_bytes <= 1.5 * measured, (measured, est.ram_bytes)
    assert report.model_ram_bytes <= est.heap.buffer_bytes + 1300
    assert dict(est.files)["ram.knn"] == len(to_bytes(model))


def test_emulated_cortex_m3():
    """Real firmware, single-precision floats, Thumb-2: float32 euclidean distance weights
    (bytecode, float32 arithmetic of the port itself) and int16 (viper kernel), learning."""
    from test_emulated import _need

    from emlearn_lab.board_fit.cores import emulated_board
    _need("cortex-m3")
    with eml.connect("emulated:cortex-m3") as dev:
        for features, kind in (("float32", "classifier"), ("int16", "regressor")):
            model, X, rng = _fit(kind, "euclidean", "distance", features, seed=12, n=30, f=4,
                                 k=3)
            model.capacity = 2
            rows = _rows(X, rng, features, n=16)
            report = dev.deploy(model, rows, repeats=3, name="m3")
            assert report.agreement == 1.0, report.disagreements
            # The estimate's instruction count and RAM for this core (its clock counts
            # instructions: deterministic, not wall-clock time).
            board = emulated_board("cortex-m3")
            est = eml.estimate(model, board, X=rows[:report.bench_rows], name="m3")
            measured = report.instructions_per_predict_median
            assert 0.75 * measured <= est.latency.instructions <= 1.25 * measured, \
                (measured, est.latency.instructions)
            # Without rows: every term of a full store (the slow case).
            assert eml.estimate(model, board, name="m3").latency.instructions >= 0.9 * measured
            assert report.runtime_ram_bytes + report.model_ram_bytes <= est.ram_bytes
            dev.learn(model, rows[:2] + 1, model.classes_[[0, 1]] if kind == "classifier"
                      else [2.5, -1.0])
            dev.reset()
            _host_equals_device(dev, model, rows, "m3")
