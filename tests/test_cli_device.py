"""`emlearn-lab deploy` and `emlearn-lab device`: what the magics do, for scripts and CI."""
import subprocess
import sys

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

import emlearn_lab as eml
from emlearn_lab.cli import main


@pytest.fixture
def files(tmp_path, digits_forest, classification_data):
    """A forest (.joblib), a smaller one, the same forest as .eml, rows and labels (.npy)."""
    clf, X_test = digits_forest
    X_train, _, y_train, y_test = classification_data["digits"]
    small = RandomForestClassifier(3, max_depth=4, random_state=0).fit(X_train, y_train)
    joblib.dump(clf, tmp_path / "forest.joblib")
    joblib.dump(small, tmp_path / "small-forest.joblib")
    from emlearn_lab.trees.modelfile import to_bytes
    (tmp_path / "forest.eml").write_bytes(to_bytes(eml.convert(clf)))
    np.save(tmp_path / "X.npy", X_test[:150])
    np.save(tmp_path / "y.npy", y_test[:150])
    return {p.name: str(p) for p in tmp_path.iterdir()}


@pytest.mark.device
def test_deploy_with_board_labels_and_compare(files, capsys):
    code = main(["deploy", files["forest.joblib"], "--data", files["X.npy"], "--labels",
                 files["y.npy"], "--board", "rp2040-pico", "--compare",
                 files["small-forest.joblib"], "--repeats", "5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("verdict             fits") == 2           # both checked on the board
    assert out.count("100.00% of 150 rows (EXACT") == 2
    assert out.count("device vs labels: accuracy") == 2
    assert "3 trees" in out


@pytest.mark.device
def test_deploy_eml_file(files, capsys):
    assert main(["deploy", files["forest.eml"], "--data", files["X.npy"], "--form",
                 "loadable", "--name", "digits", "--repeats", "5"]) == 0
    out = capsys.readouterr().out
    assert "form                      loadable" in out and "EXACT" in out


@pytest.mark.device
def test_deploy_feature_pipeline_on_windows(tmp_path, capsys):
    from sklearn.pipeline import make_pipeline

    from emlearn_lab.features import TimeStats
    rec = eml.datasets.load_sample("basic_motions")
    labels = eml.LabelSet.load(eml.datasets.sample_labels_path("basic_motions"),
                               recording=rec)
    win = eml.windows(rec, labels, window_s=2.0, hop_s=1.0, groups="interval")
    pipe = make_pipeline(TimeStats(axes=[0, 1, 2], magnitude=True),
                         RandomForestClassifier(5, max_depth=6, random_state=0))
    pipe.fit(win.X, win.y)
    joblib.dump(pipe, tmp_path / "motion.joblib")
    np.save(tmp_path / "windows.npy", win.X[:40])
    np.save(tmp_path / "labels.npy", win.y[:40])
    assert main(["deploy", str(tmp_path / "motion.joblib"), "--data",
                 str(tmp_path / "windows.npy"), "--labels", str(tmp_path / "labels.npy"),
                 "--board", "rp2040-pico", "--name", "motion", "--repeats", "5"]) == 0
    out = capsys.readouterr().out
    assert "features device vs host       EXACT" in out and "(EXACT" in out
    assert "device vs labels: accuracy" in out


def test_deploy_that_does_not_fit_exits_3_and_sends_nothing(files, capsys, monkeypatch):
    def no_device(*a, **k):
        raise AssertionError("connected although the model does not fit")
    monkeypatch.setattr(eml, "connect", no_device)
    code = main(["deploy", files["forest.joblib"], "--data", files["X.npy"], "--board",
                 "microbit-v2"])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("emlearn-lab deploy: 'model' does not fit board 'microbit-v2': the "
                          "files take")
    assert err.rstrip().endswith("Nothing was sent.")


@pytest.mark.parametrize("args,message", [
    (["--board", "microbit"], "unknown board 'microbit': did you mean microbit-v2"),
    (["--device", "/dev/ttyNOPE"], "no MicroPython device at /dev/ttyNOPE"),
])
def test_deploy_errors_exit_2(files, capsys, args, message):
    assert main(["deploy", files["forest.joblib"], "--data", files["X.npy"]] + args) == 2
    assert message in capsys.readouterr().err


def test_deploy_missing_or_bad_files(files, tmp_path, capsys):
    assert main(["deploy", files["forest.joblib"], "--data", str(tmp_path / "no.npy")]) == 2
    assert "data file" in capsys.readouterr().err
    assert main(["deploy", files["forest.joblib"], "--data", files["forest.eml"]]) == 2
    assert "expected a .npy array" in capsys.readouterr().err
    assert main(["deploy", str(tmp_path / "none.joblib"), "--data", files["X.npy"]]) == 2
    assert "none.joblib does not exist" in capsys.readouterr().err


def test_deploy_rejects_zero_repeats(files, capsys):
    assert main(["deploy", files["forest.joblib"], "--data", files["X.npy"], "--repeats",
                 "0"]) == 2
    assert "--repeats must be at least 1" in capsys.readouterr().err


def test_compare_names_are_identifiers_and_unique():
    from emlearn_lab.cli import _compare_names
    assert _compare_names(["a/small-forest.pkl", "b/small-forest.eml", "c/model.eml",
                           "9lives.pkl"], "model") == ["small_forest", "small_forest_2",
                                                       "model_2", "m_9lives"]


def test_device_list(capsys):
    assert main(["device", "list"]) == 0
    assert capsys.readouterr().out.startswith("virtual ")


@pytest.mark.device
def test_device_info_ls_reset(capsys):
    assert main(["device", "info"]) == 0
    assert "target           mpy v6.3 x64" in capsys.readouterr().out
    assert main(["device", "ls"]) == 0          # a fresh virtual device: says so, not silence
    assert "no files in its root on virtual (each CLI call starts a fresh virtual device" \
        in capsys.readouterr().out
    assert main(["device", "reset"]) == 0
    assert "restarted" in capsys.readouterr().out


def test_device_errors_exit_2(capsys):
    assert main(["device", "info", "--device", "/dev/ttyNOPE"]) == 2
    assert "emlearn-lab device info: no MicroPython device at /dev/ttyNOPE" in \
        capsys.readouterr().err
    assert main(["device", "reset", "somewhere"]) == 2
    assert "takes no path" in capsys.readouterr().err


@pytest.mark.device
def test_device_ls_error_on_the_device(capsys):
    assert main(["device", "ls", "no_such_dir"]) == 2
    assert "ENOENT" in capsys.readouterr().err


@pytest.mark.device
def test_console_script_entry_point(files):
    proc = subprocess.run([sys.executable, "-m", "emlearn_lab.cli", "deploy",
                           files["forest.joblib"], "--data", files["X.npy"], "--repeats", "3"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "100.00% of 150 rows (EXACT" in proc.stdout


@pytest.mark.device
def test_live_streams_and_summarises(files, capsys):
    code = main(["live", files["forest.joblib"], "--data", files["X.npy"], "--compare",
                 files["small-forest.joblib"], "--batch", "32"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "done, 150 of 150 items" in out
    assert out.count("  150   100.0%         0") == 2


@pytest.mark.device
def test_live_bad_batch_exits_2(files, capsys):
    assert main(["live", files["forest.joblib"], "--data", files["X.npy"], "--batch",
                 "0"]) == 2
    assert "batch must be a positive int, got 0" in capsys.readouterr().err
