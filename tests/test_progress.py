"""Progress for long work: bars on stderr when it is a terminal (a real pty here), nothing
when it is not (pipes, pytest's capture, CI logs). The demo shows its recording, uploads,
verification and timing; `live` says what it streams at once and counts items; a sweep
counts settings."""
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from emlearn_lab import progress
from emlearn_lab.cli import main

ROOT = Path(__file__).resolve().parent.parent
SWEEP = """
import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
import emlearn_lab as eml
X, y = load_digits(return_X_y=True)
clf = RandomForestClassifier(5, max_leaf_nodes=30, random_state=0).fit(X[:1000], y[:1000])
sweep = eml.compression_sweep(clf, X[1000:], y[1000:], leaves_per_class=(2, 4),
                              leaf_bits=(4,), features=("float32",), metric="accuracy")
print(len(sweep.rows))
"""


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def run(args: list, terminal: bool) -> tuple:
    """(exit code, stdout, stderr) of ``python args``; stderr is a pty when ``terminal``."""
    if not terminal:
        proc = subprocess.run([sys.executable] + args, capture_output=True, text=True,
                              env=_env(), cwd=ROOT)
        return proc.returncode, proc.stdout, proc.stderr
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))   # 120 columns
    proc = subprocess.Popen([sys.executable] + args, stdout=subprocess.PIPE, stderr=slave,
                            env=_env(), cwd=ROOT)
    os.close(slave)
    chunks = []

    def drain():                        # read the pty as it fills, until the child is gone
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:             # EIO: every writer closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    out = proc.stdout.read().decode()
    proc.wait()
    reader.join()
    os.close(master)
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


def test_a_terminal_of_unknown_width_still_gets_bars():
    code, _, err = run(["-c", "import os, sys, termios, struct, fcntl\n"
                        "fcntl.ioctl(2, termios.TIOCSWINSZ, struct.pack('HHHH', 0, 0, 0, 0))\n"
                        "from emlearn_lab import progress\n"
                        "with progress.bar(4, 'unsized') as b: b.update(2)"], terminal=True)
    assert code == 0 and "unsized:  50%" in err, err


def test_no_bar_where_stderr_is_not_a_terminal(capsys):
    assert not progress.shown()         # pytest captures stderr: not a terminal
    with progress.bar(10, "work") as b:
        b.update(10)
    assert capsys.readouterr().err == ""


@pytest.mark.device
@pytest.mark.slow
def test_demo_shows_its_long_steps_on_a_terminal_only():
    code, out, err = run(["-m", "emlearn_lab", "demo"], terminal=True)
    assert code == 0, out + err
    for step in ("recording 2 s from sensor playback", "upload model 'model'",
                 "rows through 'model'", "timing 'model' on the device",
                 "upload the feature extractors of 'motion'", "windows through 'motion'",
                 "timing the features + predict of 'motion'"):
        assert step in err, step
    code, piped_out, piped_err = run(["-m", "emlearn_lab", "demo"], terminal=False)
    assert code == 0 and piped_err == "", piped_err
    assert piped_out.splitlines()[0] == out.splitlines()[0]      # stdout alike


@pytest.fixture
def forest_files(tmp_path, digits_forest):
    clf, X_test = digits_forest
    joblib.dump(clf, tmp_path / "forest.joblib")
    np.save(tmp_path / "X.npy", X_test[:120])
    return str(tmp_path / "forest.joblib"), str(tmp_path / "X.npy")


@pytest.mark.device
def test_live_says_what_it_streams_and_counts_items(forest_files):
    model, X = forest_files
    args = ["-m", "emlearn_lab", "live", model, "--data", X, "--batch", "8"]
    code, out, err = run(args, terminal=True)
    assert code == 0, out + err
    assert out.startswith("live: streaming 120 items through 'model' on the host and on ")
    assert "live: host vs device" in err and "100.0% agree" in err
    assert "/120" in err
    code, out, err = run(args, terminal=False)
    assert code == 0 and err == "", err
    assert out.startswith("live: streaming 120 items")


@pytest.mark.device
def test_live_in_process_keeps_stderr_clean(forest_files, capsys):
    model, X = forest_files
    assert main(["live", model, "--data", X]) == 0
    assert capsys.readouterr().err == ""


def test_a_sweep_counts_its_settings_on_a_terminal():
    code, out, err = run(["-c", SWEEP], terminal=True)
    assert code == 0 and out.strip() == "2", out + err
    assert "compression sweep" in err and "2/2" in err
    code, out, err = run(["-c", SWEEP], terminal=False)
    assert code == 0 and err == "", err
