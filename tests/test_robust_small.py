"""Small robustness fixes (issue 17, item 9): each wrong input or leftover of a killed process
gets a one-line error saying what is accepted, or is cleaned up, instead of a raw traceback, a
silently replaced file or a directory that leaks."""
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier

import emlearn_lab as eml
from emlearn_lab.cli import main
from emlearn_lab.exceptions import (
    DeviceDisconnectedError,
    InputError,
    LabelError,
    UnsupportedModelError,
)
from emlearn_lab.labels import LabelSet


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- connect --------------------------------------------------------------------------------
@pytest.mark.parametrize("port", [None, 3, b"/dev/ttyACM0"])
def test_connect_names_what_port_accepts(port):
    with pytest.raises(InputError, match=r"^The 'port' parameter of eml\.connect must be "
                                         r"'virtual', 'emulated:BOARD', 'auto' or a serial "
                                         rf"port path\. Got {re.escape(repr(port))} instead\. "
                                         rf"Pass a str \(not a {type(port).__name__}\), "
                                         r"e\.g\. '/dev/ttyACM0'"):
        eml.connect(port)


@pytest.mark.parametrize("port", ["emulated:cortex-m3", "/dev/ttyNOPE", "auto"])
@pytest.mark.parametrize("name,value", [("heap_bytes", 65536), ("workdir", "/tmp/x")])
def test_virtual_only_arguments_for_another_port_are_an_input_error(port, name, value):
    # Was DeviceNotFoundError: the arguments are wrong whether or not the port exists.
    with pytest.raises(InputError, match=rf"^The '{name}' parameter of eml\.connect must be "
                                         rf"None for port={re.escape(repr(port))}\. Got "
                                         rf"{re.escape(repr(value))} instead\. heap_bytes and "
                                         r"workdir apply to port='virtual' only\.$") as info:
        eml.connect(port, **{name: value})
    assert not isinstance(info.value, eml.DeviceError)


@pytest.mark.parametrize("heap_bytes", [-5, 0, 100, 1.5, True, "64k", 2**40])
def test_virtual_heap_bytes_is_checked(heap_bytes):
    with pytest.raises(InputError, match=r"heap_bytes must be an int in the range "
                                         r"\[8192, 1073741824\].*got"):
        eml.connect("virtual", heap_bytes=heap_bytes)


@pytest.mark.device
def test_smallest_heap_accepted_runs():
    with eml.connect("virtual", heap_bytes=8192) as dev:
        assert dev.eval("1 + 1") == 2


# -- deploy name ----------------------------------------------------------------------------
@pytest.mark.device
def test_a_long_deploy_name_is_refused_with_the_limit(device, digits_forest):
    clf, X = digits_forest
    with pytest.raises(InputError, match=r"name must be at most 64 characters.*got 300"):
        device.deploy(clf, X[:5], name="m" * 300)
    assert device.deploy(clf, X[:5], name="m" * 64, repeats=1).agreement == 1.0


@pytest.mark.device
def test_a_long_feature_check_name_is_refused_with_the_limit(device):
    from emlearn_lab.features import TimeStats
    W = np.random.default_rng(0).standard_normal((4, 20, 3)).astype(np.float32)
    fx = TimeStats(axes="xyz").fit(W)
    with pytest.raises(InputError, match=r"name must be at most 64 characters.*got 300"):
        device.check_features(fx, W, name="f" * 300)


# -- compress -------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_compress_refuses_a_network_and_says_what_to_use():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    net = MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0)
    fitted = MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(
        X, X[:, 0] > 0)
    for model in (net, fitted, eml.convert(fitted)):
        with pytest.raises(UnsupportedModelError,
                           match=r"compress takes tree ensembles.*got (MLPClassifier|NetModel)"
                                 r".*eml.convert\(model, weights='int8'"):
            eml.compress(model)


# -- CLI boards -----------------------------------------------------------------------------
def test_cli_boards_unknown_board_is_an_error(capsys):
    assert main(["boards", "--board", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "unknown board 'nope'" in err and "rp2040-pico" in err
    assert main(["boards", "--board", "rp2040-pico"]) == 0
    out, _ = capsys.readouterr()
    assert "rp2040-pico" in out and "esp32" not in out


# -- label files ----------------------------------------------------------------------------
def test_stale_label_temp_files_are_removed_on_load(tmp_path):
    path = tmp_path / "walk.labels.csv"
    LabelSet.open(path).add(0, 1, "walk")
    dead = tmp_path / f".walk.labels.csv.{_dead_pid()}.k3j2.tmp"      # a killed writer
    old = tmp_path / ".walk.labels.csv.a8x_q2.tmp"                     # older naming, aged
    live = tmp_path / f".walk.labels.csv.{os.getpid()}.z9.tmp"         # a writer at work
    fresh = tmp_path / ".walk.labels.csv.b7y_r1.tmp"                   # unknown writer, new
    other = tmp_path / f".run.labels.csv.{_dead_pid()}.k3j2.tmp"       # another file's
    for p in (dead, old, live, fresh, other):
        p.write_text("start_s,end_s,label\n0,1,wa")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    labels = LabelSet.open(path)
    assert len(labels) == 1
    assert not dead.exists() and not old.exists()
    assert live.exists() and fresh.exists() and other.exists()
    dead.write_text("")
    LabelSet.load(path)                                   # load cleans too
    assert not dead.exists() and live.exists()


def test_a_read_only_label_file_is_not_replaced(tmp_path):
    path = tmp_path / "done.labels.csv"
    labels = LabelSet.open(path)
    labels.add(0, 1, "walk")
    before = path.read_text()
    path.chmod(0o444)
    try:
        with pytest.raises(PermissionError, match=r"done.labels.csv is read-only.*chmod u\+w"):
            labels.add(2, 3, "run")
        assert path.read_text() == before and len(labels) == 1     # nothing happened
        assert list(tmp_path.iterdir()) == [path]                   # no temp file left
        with pytest.raises(PermissionError, match="read-only"):
            labels.save()
    finally:
        path.chmod(0o644)
    labels.add(2, 3, "run")
    assert len(LabelSet.load(path)) == 2


_AUTOSAVER = """
import sys
from emlearn_lab.labels import LabelSet
labels = LabelSet.open(sys.argv[1])
n = len(labels)
print("ready", n, flush=True)
while True:
    labels.add(n, n + 0.5, "walk")       # autosaved before add() returns
    n += 1
    print(n, flush=True)
"""


@pytest.mark.slow
def test_kill_9_during_autosave_loses_nothing_and_leaves_no_temp_files(tmp_path):
    """Killed at random points of an autosave loop: the file always parses and holds every
    edit that was acknowledged; the temp files of killed writers go at the next open."""
    path = tmp_path / "k.labels.csv"
    rng = random.Random(0)
    acknowledged = 0
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", _AUTOSAVER, str(path)],
                                stdout=subprocess.PIPE, text=True)
        head = proc.stdout.readline().split()
        assert head[0] == "ready" and int(head[1]) >= acknowledged
        for _ in range(rng.randrange(1, 40)):
            acknowledged = int(proc.stdout.readline())
        time.sleep(rng.random() * 0.005)      # a random point of a later save
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for line in proc.stdout:              # what it acknowledged before it died
            if line.endswith("\n"):
                acknowledged = int(line)
        proc.stdout.close()
        n = len(LabelSet.load(path))          # parses (not corrupt)
        assert acknowledged <= n <= acknowledged + 1
    LabelSet.open(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.labels.csv"]


# -- virtual device leftovers ---------------------------------------------------------------
_VDEV_OWNER = """
import emlearn_lab as eml
dev = eml.connect("virtual")
print(dev.virtual.workdir, flush=True)
input()
"""


@pytest.mark.device
def test_virtual_device_dirs_of_a_killed_host_are_removed_at_the_next_start():
    proc = subprocess.Popen([sys.executable, "-c", _VDEV_OWNER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    workdir = Path(proc.stdout.readline().strip())
    assert workdir.is_dir() and workdir.name.startswith("emlab-vdev-")
    proc.kill()                               # kill -9: atexit does not run
    proc.wait()
    proc.stdout.close()
    proc.stdin.close()
    assert workdir.is_dir()                   # leaked, until:
    mine = Path(tempfile.mkdtemp(prefix=f"emlab-vdev-{os.getpid()}-"))   # a live owner's
    try:
        with eml.connect("virtual") as dev:
            assert dev.eval("1 + 1") == 2
        assert not workdir.exists() and mine.is_dir()
    finally:
        mine.rmdir()


# -- a port that vanished while connected ----------------------------------------------------
@pytest.mark.device
def test_a_port_gone_right_after_a_kill_reports_disconnected(monkeypatch):
    from emlearn_lab.device.virtual import VirtualDevice
    with eml.connect("virtual") as dev:
        assert dev.eval("1 + 1") == 2
        port = dev.port
        dev.virtual.kill()
        with pytest.raises(DeviceDisconnectedError):
            dev.eval("1 + 1")
        # The race: the process is dead and its pty gone, but not yet reaped, so the next
        # call still takes it for alive and probes a port that no longer exists (a path that
        # never existed here: the pty's number may already serve another program).
        monkeypatch.setattr(VirtualDevice, "alive", property(lambda self: True))
        dev.port = f"{port}404404"
        with pytest.raises(DeviceDisconnectedError, match="lost the device") as e:
            dev.eval("1 + 1")
        assert "check the cable" not in str(e.value)
        monkeypatch.undo()
        assert dev.eval("1 + 1") == 2        # and the next call reconnects
