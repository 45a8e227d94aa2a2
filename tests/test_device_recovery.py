"""The host never leaves the device stuck, never blames the model for a fragmented heap and
never sends what cannot fit (issue 17: a hang, slow boards, heap and filesystem limits)."""
import numpy as np
import pytest

import emlearn_lab as eml

pytestmark = pytest.mark.device


def test_bytecode_hang_is_reported_and_interrupted():
    with eml.connect("virtual") as dev:
        dev.exec("_kept = 41")
        with pytest.raises(eml.DeviceTimeoutError,
                           match=r"did not finish exec within 1 s: it is still running or "
                                 r"hung.*[Ii]nterrupted"):
            dev.exec("while True:\n pass", timeout_s=1)
        # The next call works without dev.reset(), and the interrupt kept the session.
        assert dev.eval("_kept + 1") == 42


def test_viper_hang_is_interrupted_too():
    """The unix port interrupts native code asynchronously (on SIGINT)."""
    with eml.connect("virtual") as dev:
        with pytest.raises(eml.DeviceTimeoutError, match=r"within 1 s.*[Ii]nterrupted"):
            dev.exec("@micropython.viper\ndef spin():\n while True:\n  pass\nspin()",
                     timeout_s=1)
        assert dev.eval("1 + 1") == 2


def test_hang_deaf_to_ctrl_c_restarts_the_device(digits_forest, monkeypatch):
    """A device that does not answer Ctrl-C (a board in a native loop) is restarted, and a
    model deployed before is loaded again on its next use."""
    clf, X_test = digits_forest
    with eml.connect("virtual") as dev:
        dev.deploy(clf, X_test[:20], form="loadable", repeats=2)
        pid = dev.virtual._proc.pid
        # the unix port ignores a 0x03 byte: without the SIGINT it stays in the loop
        monkeypatch.setattr(dev.virtual, "interrupt", lambda: None)
        with pytest.raises(eml.DeviceTimeoutError,
                           match=r"within 1 s.*did not stop it: restarted it"):
            dev.exec("while True:\n pass", timeout_s=1)
        assert dev.virtual._proc.pid != pid
        assert dev.eval("1 + 1") == 2
        np.testing.assert_array_equal(dev.predict(X_test[:20]), clf.predict(X_test[:20]))
