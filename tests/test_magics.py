"""The IPython magics, run through a real InteractiveShell that re-raises cell errors, on the
virtual device."""
import subprocess
import sys

import numpy as np
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config


class RaisingShell(InteractiveShell):
    """An InteractiveShell whose run_cell raises the cell's error instead of printing it."""

    def run_cell(self, *args, **kwargs):
        result = super().run_cell(*args, **kwargs)
        result.raise_error()
        return result


@pytest.fixture(autouse=True)
def shell():
    """A fresh shell per test (so fresh EmlearnLab settings and device); the device it
    connected is closed and the IPython singleton cleared afterwards."""
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    InteractiveShell.clear_instance()
    ip = RaisingShell.instance(config=config)
    ip.run_cell("%load_ext emlearn_lab", store_history=False)
    yield ip
    lab = ip.magics_manager.registry.get("EmlearnLab")
    if lab is not None:
        lab._close()
    RaisingShell.clear_instance()


def lab(shell):
    return shell.magics_manager.registry["EmlearnLab"]


def run(shell, cell: str):
    """Run a cell; (return value, captured stdout, text of every displayed output)."""
    with capture_output() as cap:
        result = shell.run_cell(cell, store_history=False)
    shown = [o.data.get("text/plain", "") for o in cap.outputs]
    return result.result, cap.stdout, shown


@pytest.fixture
def forest(shell, digits_forest):
    clf, X_test = digits_forest
    shell.user_ns.update(clf=clf, X_test=X_test[:120])
    return clf


DEPLOY_BODY = "model = clf\nX = X_test\n"


def test_importing_emlearn_lab_does_not_import_ipython():
    code = "import sys, emlearn_lab; print('IPython' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "False"


@pytest.mark.device
def test_deploy_shows_an_exact_report_and_returns_nothing(shell, forest):
    value, stdout, shown = run(shell, "%%emlearn_deploy --no-live --repeats 5\n" + DEPLOY_BODY)
    assert value is None
    assert len(shown) == 1
    assert shown[0].startswith("model on the virtual device: exact (100% of 120 rows), ")
    assert "100.00% of 120 rows (EXACT" in shown[0]
    assert "live" not in stdout
    files = dict(lab(shell).dev.listdir())
    assert "model_inline.mpy" in files or "model.eml" in files


@pytest.mark.device
def test_device_is_reused_between_cells(shell, forest):
    run(shell, "%%emlearn_deploy --no-live --repeats 5\n" + DEPLOY_BODY)
    first = lab(shell).dev
    _, _, shown = run(shell, "%%emlearn_deploy --no-live --repeats 5 --form loadable\n"
                      + DEPLOY_BODY)
    assert lab(shell).dev is first
    assert "loadable" in shown[0] and "EXACT" in shown[0]


@pytest.mark.device
def test_board_it_fits_shows_the_estimate_then_deploys(shell, forest):
    _, stdout, shown = run(shell, "%%emlearn_deploy --board rp2040-pico --no-live --repeats 5\n"
                           + DEPLOY_BODY)
    assert stdout == ""
    assert len(shown) == 1                      # one verdict per model, the details under it
    line, *details = shown[0].splitlines()
    assert line.startswith("model on rp2040-pico: fits (")
    assert "on the virtual device: exact (100% of 120 rows)" in line
    assert line.endswith("(standing in for the board)")
    details = "\n".join(details)
    assert "not on the board (connect the board: %emlearn_device connect PORT" in details
    assert "rp2040-pico" in details and "verdict             fits" in details
    assert "100.00% of 120 rows (EXACT" in details


@pytest.mark.device
def test_board_auto_form_is_the_form_deployed(shell, forest):
    """"auto" resolves for the board: on the Pico's Cortex-M0+ the loadable walker beats
    viper inline, while the virtual device alone would pick inline. The estimate and the
    device must describe the same form."""
    run(shell, "%%emlearn_deploy --no-live --repeats 5\n" + DEPLOY_BODY)
    assert lab(shell).dev.deployments["model"].form == "inline"     # the device's own choice
    _, _, shown = run(shell, "%%emlearn_deploy --board rp2040-pico --no-live --repeats 5\n"
                      + DEPLOY_BODY)
    assert lab(shell).dev.deployments["model"].form == "loadable"
    forms = [row.split()[-1] for row in shown[0].splitlines() if row.strip().startswith("form ")]
    assert forms == ["loadable", "loadable"], forms          # estimate, deploy report
    assert "227 kB free heap, loadable)" in shown[0].splitlines()[0]


@pytest.mark.device
def test_verdicts_lead_and_no_table_precedes_the_live_view(shell, forest, classification_data):
    """Two models, a board and the live view: per model one line, every table folded in a
    <details> under it, so nothing dense stands between the cell and the live view."""
    from sklearn.ensemble import RandomForestClassifier
    X_train, _, y_train, _ = classification_data["digits"]
    shell.user_ns["small"] = RandomForestClassifier(3, max_depth=4, random_state=0).fit(
        X_train, y_train)
    with capture_output() as cap:
        shell.run_cell("%%emlearn_deploy --board rp2040-pico --compare small --repeats 5\n"
                       + DEPLOY_BODY, store_history=False)
    lab(shell).live_widget.comparison.stop()
    *verdicts, widget = cap.outputs
    assert "application/vnd.jupyter.widget-view+json" in widget.data
    assert len(verdicts) == 2 and cap.stdout == ""
    for out, name in zip(verdicts, ["model", "small"]):
        html = out.data["text/html"]
        shown, folded = html.split("<details>")
        assert "<table" not in shown and folded.count("<table") == 2     # estimate, report
        assert f"{name} on rp2040-pico: fits (" in shown and "µs per predict" in shown
        assert out.data["text/plain"].splitlines()[0].startswith(f"{name} on rp2040-pico")
        # jargon carries its explanation as a tooltip
        assert '<abbr title="Deploy form: a generic tree walker' in shown
        assert "<abbr title=\"The version of MicroPython" in folded       # mpy v6.3


@pytest.mark.device
def test_board_it_does_not_fit_sends_nothing(shell, forest):
    run(shell, "%emlearn_device connect")
    before = lab(shell).dev.listdir()
    with pytest.raises(UsageError, match=r"'model' does not fit board 'microbit-v2': the "
                                         r"files take \d+ B of filesystem.*Nothing was sent"):
        run(shell, "%%emlearn_deploy --board microbit-v2 --no-live\n" + DEPLOY_BODY)
    assert lab(shell).dev.listdir() == before


def test_unknown_board_fails_before_the_cell_runs(shell):
    with pytest.raises(UsageError, match="unknown board 'microbit': did you mean microbit-v2"):
        run(shell, "%%emlearn_deploy --board microbit\nran = True\n")
    assert "ran" not in shell.user_ns
    assert lab(shell).dev is None


@pytest.mark.device
def test_compare_deploys_each_variable_under_its_name(shell, forest, classification_data):
    from sklearn.ensemble import RandomForestClassifier
    X_train, _, y_train, _ = classification_data["digits"]
    shell.user_ns["small"] = RandomForestClassifier(3, max_depth=4, random_state=0).fit(
        X_train, y_train)
    _, _, shown = run(shell, "%%emlearn_deploy --compare small --no-live --repeats 5\n"
                      + DEPLOY_BODY)
    assert len(shown) == 2
    assert "10 trees" in shown[0] and "3 trees" in shown[1]
    assert all("100.00% of 120 rows (EXACT" in s for s in shown)
    names = {n for n, _ in lab(shell).dev.listdir()}
    assert {"model", "small"} <= {n.split("_inline")[0].split(".")[0] for n in names}


def test_compare_of_unknown_variable(shell, forest):
    with pytest.raises(UsageError, match=r"did not assign `other` \(a model named by "
                                         r"--compare\)"):
        run(shell, "%%emlearn_deploy --compare other --no-live\n" + DEPLOY_BODY)
    with pytest.raises(UsageError, match="--compare model: that name is the deployed model's"):
        run(shell, "%%emlearn_deploy --compare model --no-live\n" + DEPLOY_BODY)


@pytest.mark.parametrize("body,missing", [("model = clf\n", "X"), ("X = X_test\n", "model"),
                                          ("model = clf\nX = None\n", "X")])
def test_missing_model_or_X(shell, forest, body, missing):
    with pytest.raises(UsageError, match=f"the cell did not assign `{missing}`.*Nothing was "
                                         "sent"):
        run(shell, "%%emlearn_deploy --no-live\n" + body)
    assert lab(shell).dev is None


@pytest.mark.device
def test_feature_pipeline_on_windows(shell):
    body = """
import emlearn_lab as eml
from emlearn_lab.features import TimeStats
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
rec = eml.datasets.load_sample("basic_motions")
labels = eml.LabelSet.load(eml.datasets.sample_labels_path("basic_motions"), recording=rec)
win = eml.windows(rec, labels, window_s=2.0, hop_s=1.0, groups="interval")
model = make_pipeline(TimeStats(axes=[0, 1, 2], magnitude=True),
                      RandomForestClassifier(5, max_depth=6, random_state=0)).fit(win.X, win.y)
X = win.X[:40]
"""
    _, _, shown = run(shell, "%%emlearn_deploy --board rp2040-pico --name motion --no-live "
                             "--repeats 5" + body)
    assert len(shown) == 1
    assert shown[0].startswith("motion on rp2040-pico: fits (")
    assert "exact (100% of 40 rows)" in shown[0].splitlines()[0]
    assert "µs per features + predict" in shown[0].splitlines()[0]
    assert "TimeStats" in shown[0] and "verdict             fits" in shown[0]
    assert "features device vs host       EXACT" in shown[0]
    assert "100.00% of 40 rows (EXACT" in shown[0]


@pytest.mark.device
def test_unfitted_model_is_a_usage_error(shell, forest):
    with pytest.raises(UsageError, match="%%emlearn_deploy: This RandomForestClassifier "
                                         "instance is not fitted yet"):
        run(shell, "%%emlearn_deploy --no-live\nfrom sklearn.ensemble import "
                   "RandomForestClassifier\nmodel = RandomForestClassifier()\nX = X_test\n")


def test_error_in_the_cell_body_propagates(shell):
    with pytest.raises(ZeroDivisionError):
        run(shell, "%%emlearn_deploy --no-live\nmodel = 1 / 0\n")
    assert lab(shell).dev is None


def test_bad_arguments(shell):
    with pytest.raises(UsageError, match="argument --form: invalid choice: 'fast'"):
        run(shell, "%%emlearn_deploy --form fast\nmodel = 1\n")
    with pytest.raises(UsageError, match="--repeats must be at least 1, got 0"):
        run(shell, "%%emlearn_deploy --repeats 0\nmodel = 1\n")


def test_config_device_is_the_default(shell, forest):
    run(shell, '%config EmlearnLab.device = "/dev/ttyNOPE"')
    assert lab(shell).device == "/dev/ttyNOPE"
    with pytest.raises(UsageError, match="no MicroPython device at /dev/ttyNOPE"):
        run(shell, "%%emlearn_deploy --no-live\n" + DEPLOY_BODY)
    with pytest.raises(UsageError, match="%emlearn_device info: no MicroPython device at "
                                         "/dev/ttyNOPE"):
        run(shell, "%emlearn_device info")


@pytest.mark.device
def test_device_option_overrides_config(shell, forest):
    run(shell, '%config EmlearnLab.device = "/dev/ttyNOPE"')
    _, _, shown = run(shell, "%%emlearn_deploy --device virtual --no-live --repeats 5\n"
                      + DEPLOY_BODY)
    assert "EXACT" in shown[0] and lab(shell).dev_spec == "virtual"


def test_config_rejects_bad_values(shell):
    run(shell, '%config EmlearnLab.form = "fast"')       # IPython logs the TraitError
    run(shell, "%config EmlearnLab.repeats = 0")
    assert lab(shell).form == "auto" and lab(shell).repeats == 200
    run(shell, '%config EmlearnLab.form = "loadable"')
    run(shell, "%config EmlearnLab.repeats = 7")
    assert lab(shell).form == "loadable" and lab(shell).repeats == 7


@pytest.mark.device
def test_config_form_and_live_off(shell, forest):
    run(shell, '%config EmlearnLab.form = "loadable"')
    run(shell, "%config EmlearnLab.live = False")
    _, stdout, shown = run(shell, "%%emlearn_deploy --repeats 5\n" + DEPLOY_BODY)
    assert "loadable" in shown[0] and "EXACT" in shown[0]
    assert len(shown) == 1 and stdout == ""


@pytest.mark.device
def test_live_comparison_is_displayed(shell, forest):
    with capture_output() as cap:
        shell.run_cell("%%emlearn_deploy --repeats 5\n" + DEPLOY_BODY, store_history=False)
    assert cap.stdout == "", cap.stdout
    assert len(cap.outputs) == 2
    assert "EXACT" in cap.outputs[0].data["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in cap.outputs[1].data
    comparison = lab(shell).live_widget.comparison
    assert comparison.wait(60) == "done"
    summary = comparison.summary()
    assert summary.all_agree and summary["model"]["n"] == 120


@pytest.mark.device
def test_live_compares_every_model_and_stops_with_the_device(shell, forest,
                                                             classification_data):
    from sklearn.ensemble import RandomForestClassifier
    X_train, X_test, y_train, _ = classification_data["digits"]
    shell.user_ns["small"] = RandomForestClassifier(3, max_depth=4, random_state=0).fit(
        X_train, y_train)
    shell.user_ns["X_test"] = X_test                     # long enough to still be running
    _, stdout, shown = run(shell, "%%emlearn_deploy --compare small --repeats 5\n"
                                  + DEPLOY_BODY)
    assert stdout == "", stdout
    assert len(shown) == 3
    comparison = lab(shell).live_widget.comparison
    assert comparison.labels == ["model", "small"]
    run(shell, "%emlearn_device close")
    assert lab(shell).live_widget is None
    assert comparison.state != "running"
    summary = comparison.summary()
    assert all(summary[m]["disagreements"] == 0 for m in ("model", "small"))


def test_boards_table(shell):
    _, _, shown = run(shell, "%emlearn_boards")
    assert "rp2040-pico" in shown[0] and "microbit-v2" in shown[0] and "MP heap" in shown[0]


def test_boards_fit_table_of_a_model(shell, forest):
    _, _, shown = run(shell, "%emlearn_boards clf")
    table = shown[0]
    assert "esp32-wrover" in table and "remedy" in table
    assert "✓" in table and "✗" in table        # fits the Pico, not the micro:bit
    with pytest.raises(UsageError, match="no variable `nope` in the notebook"):
        run(shell, "%emlearn_boards nope")


@pytest.mark.device
def test_device_info_ls_reset_output_close(shell, forest):
    value, _, _ = run(shell, "%emlearn_device connect")
    assert value is lab(shell).dev and "virtual" in repr(value)
    _, info, _ = run(shell, "%emlearn_device info")
    assert "target           mpy v6.3 x64" in info and "heap_free_bytes" in info
    _, listing, _ = run(shell, "%emlearn_device ls")
    assert "no files in the device root" in listing
    run(shell, "%%emlearn_deploy --no-live --repeats 5 --form loadable\n" + DEPLOY_BODY)
    _, listing, _ = run(shell, "%emlearn_device ls")
    assert "model.eml" in listing and "emltrees_kernels.mpy" in listing
    _, out, _ = run(shell, "%emlearn_device reset")
    assert "restarted" in out
    assert lab(shell).dev.eval("1 + 1") == 2
    _, out, _ = run(shell, "%emlearn_device output")
    assert out.startswith("no device output kept")
    _, out, _ = run(shell, "%emlearn_device close")
    assert out == "closed the device\n" and lab(shell).dev is None
    _, out, _ = run(shell, "%emlearn_device close")
    assert out == "no device was connected\n"


@pytest.mark.device
def test_device_error_is_one_line_and_output_keeps_it(shell):
    with pytest.raises(UsageError) as info:
        run(shell, "%emlearn_device ls no_such_dir")
    message = str(info.value)
    assert message.startswith("%emlearn_device ls: error on the device during exec")
    assert "\n" not in message and message.endswith("(full device output: %emlearn_device "
                                                    "output)")
    _, out, _ = run(shell, "%emlearn_device output")
    assert "Traceback" in out and "ENOENT" in out


def test_device_list_and_bad_commands(shell):
    _, out, _ = run(shell, "%emlearn_device list")
    assert out.startswith("virtual ") and "\nbrowser " in out
    with pytest.raises(UsageError, match="invalid choice: 'flash'"):
        run(shell, "%emlearn_device flash")
    with pytest.raises(UsageError, match="%emlearn_device info takes no argument, got 'x'"):
        run(shell, "%emlearn_device info x")


@pytest.mark.device
def test_reload_closes_the_previous_device(shell):
    run(shell, "%emlearn_device connect")
    old = lab(shell).dev
    run(shell, "%reload_ext emlearn_lab")
    assert lab(shell) is not None and lab(shell).dev is None
    assert old.virtual is not None and not old.virtual.alive


@pytest.mark.device
def test_labels_give_the_live_view_its_ground_truth(shell, forest, classification_data):
    shell.user_ns["y_test"] = classification_data["digits"][3][:120]
    run(shell, "%%emlearn_deploy --repeats 5 --labels y_test\n" + DEPLOY_BODY)
    comparison = lab(shell).live_widget.comparison
    assert comparison.has_truth and comparison.wait(120) == "done"
    assert (comparison.results["model"]["truth_class"] >= 0).all()
    with pytest.raises(UsageError, match="--labels y_short has 3 labels for 120 items of X"):
        shell.user_ns["y_short"] = classification_data["digits"][3][:3]
        run(shell, "%%emlearn_deploy --labels y_short\n" + DEPLOY_BODY)


APP_BODY = """
import emlearn_lab as eml
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
recording = eml.datasets.load_sample("basic_motions")
labels = eml.LabelSet.load(eml.datasets.sample_labels_path("basic_motions"))
win = eml.windows(recording, labels, window_s=2.0, hop_s=0.5)
pipe = make_pipeline(eml.features.TimeStats(axes=[0, 1, 2]),
                     RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0))
pipe.fit(win.X, win.y)
app = eml.DeviceApp(pipe, window_s=2.0, hop_s=0.5, post=eml.post.Smooth(3))
"""


@pytest.mark.device
def test_deploy_app_installs_the_app_and_checks_its_events(shell):
    _, stdout, shown = run(shell, "%%emlearn_deploy --app\n" + APP_BODY)
    assert shown[0].startswith("AppCheck(IDENTICAL: ")
    assert "installed as app_a: this port does not run main.py at boot" in stdout
    assert "emlab_app.json" in dict(lab(shell).dev.listdir())


@pytest.mark.device
def test_deploy_app_needs_an_app(shell):
    with pytest.raises(UsageError, match=r"`app` is a int, not an eml.DeviceApp. Nothing was "
                                         "sent"):
        run(shell, "%%emlearn_deploy --app\napp = 3\nrecording = 4\n")


@pytest.mark.device
@pytest.mark.parametrize("kind", ["isolation", "gauss", "knn"])
def test_deploy_magic_takes_detectors_and_neighbours(shell, kind):
    """The magic is the same for every kind of model: a detector (with the threshold picked
    for it) or a nearest-neighbour classifier, fitted in the cell's namespace, checked on a
    board and deployed exactly."""
    from sklearn.ensemble import IsolationForest
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import KNeighborsClassifier

    import emlearn_lab as eml
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(80, 4)), rng.normal(4, 1, size=(20, 4))])
    y = np.array([1] * 80 + [-1] * 20)
    make = {"isolation": lambda: eml.convert(IsolationForest(n_estimators=10,
                                                             random_state=0).fit(X[:80])),
            "gauss": lambda: eml.convert(GaussianMixture(2, random_state=0).fit(X[:80])),
            "knn": lambda: eml.convert(KNeighborsClassifier(3).fit(X, y))}
    model = make[kind]()
    if kind != "knn":
        model.threshold = eml.anomaly.pick_threshold(model, X, y, metric="f1")
    shell.user_ns.update(det=model, X_rows=X)
    _, _, shown = run(shell, "%%emlearn_deploy --board rp2040-pico --no-live --repeats 2\n"
                      "model = det\nX = X_rows\n")
    line = shown[0].splitlines()[0]
    assert line.startswith("model on rp2040-pico: fits (")
    assert "on the virtual device: exact (100% of 100 rows)" in line
