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


def test_model_that_hangs_mid_verification_is_reported_and_the_device_recovers(
        digits_forest, monkeypatch):
    from emlearn_lab.device import budget
    clf, X_test = digits_forest
    with eml.connect("virtual") as dev:
        dev.deploy(clf, X_test[:10], form="loadable", repeats=2)
        # a model whose predict never returns, its speed not measured yet
        dev.exec("class _Hang:\n def __init__(self, m):\n  self.m = m\n"
                 "  self.n_features, self.features = m.n_features, m.features\n"
                 " def predict(self, x):\n  while True:\n   pass\n"
                 "_emlab_models['model'] = _Hang(_emlab_models['model'])")
        dev.deployments["model"].us_per_row = None
        monkeypatch.setattr(budget, "FIRST_ROW_TIMEOUT_S", 2.0)
        with pytest.raises(eml.DeviceTimeoutError,
                           match=r"did not finish verifying rows 0-0 of 5 within 2 s: it is "
                                 r"still running or hung\. Interrupted it"):
            dev.predict(X_test[:5])
        assert _scratch(dev) == []
        monkeypatch.undo()
        dev.exec("_emlab_models.pop('model')")          # reloaded from its file on next use
        np.testing.assert_array_equal(dev.predict(X_test[:5]), clf.predict(X_test[:5]))


def test_board_deaf_to_ctrl_c_and_ctrl_d_asks_for_its_reset_button():
    """A board the host cannot restart: after Ctrl-C and a soft reset went unanswered, the
    message says what the user must do."""
    from emlearn_lab.device.transport import Device
    from emlearn_lab.device.virtual import VirtualDevice
    with VirtualDevice() as vdev:
        dev = Device(vdev.port)      # a serial port, as far as the host knows
        with pytest.raises(eml.DeviceTimeoutError,
                           match=r"within 1 s: it is still running or hung\. It answers "
                                 r"neither Ctrl-C nor Ctrl-D: press its reset button"):
            dev.exec("while True:\n pass", timeout_s=1)
        dev.close()


# -- slow devices: work and timeouts sized from the device's own time -------------------------

def _slow_mlp():
    """A float32 network on the bytecode path: milliseconds per predict, a slow board's pace
    for a tree model."""
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    clf = MLPClassifier(hidden_layer_sizes=(128, 128), max_iter=30, random_state=0)
    with pytest.warns(Warning):          # not converged in 30 iterations: fine here
        clf.fit(X, y)
    return clf, X


def test_slow_model_times_fewer_calls_and_nothing_times_out(monkeypatch):
    clf, X = _slow_mlp()
    with eml.connect("virtual") as dev:
        timeouts = []
        real_eval = dev.eval

        def eval_(expression, timeout_s=10.0, what="eval"):
            timeouts.append((what, timeout_s))
            return real_eval(expression, timeout_s=timeout_s, what=what)

        monkeypatch.setattr(dev, "eval", eval_)
        report = dev.deploy(clf, X[:40], repeats=200)
        assert report.agreement == 1.0
        # bench: at most ~2 s of device time, so far fewer than 16 rows x 200 calls
        assert report.bench_rows * report.bench_repeats < 16 * 200
        assert any(n.startswith("timing:") for n in report.notes)
        # verification: one row alone first (its speed unknown), then batches
        verifying = [w for w, _ in timeouts if w.startswith("verifying")]
        assert verifying[0] == "verifying rows 0-0 of 40"
        assert len(verifying) >= 2
        # and a model whose speed is known skips the probe
        timeouts.clear()
        np.testing.assert_array_equal(dev.predict(X[:40]), clf.predict(X[:40]))
        assert [w for w, _ in timeouts if w.startswith("verifying")][0] != \
            "verifying rows 0-0 of 40"


def test_bench_plan_spends_a_fixed_device_budget():
    from emlearn_lab.device.budget import BENCH_BUDGET_S, bench_plan
    assert bench_plan(5.0, 16, 200) == (16, 200)            # fast: as asked
    rows, repeats = bench_plan(32_000.0, 16, 200)           # ~4 M instructions at 125 MIPS
    assert rows * repeats * 3 * 32_000 <= BENCH_BUDGET_S * 1e6
    assert repeats == 1 and rows >= 1
    assert bench_plan(10e6, 16, 200) == (1, 1)               # never less than one call


# -- heap: fragmentation is not the model's fault; what cannot fit is not sent --------------

_FRAGMENT = ("import gc\n_f = []\ntry:\n while True:\n  _f.append(bytearray(3000))\n"
             "except MemoryError:\n pass\nfor i in range(0, len(_f), 2):\n _f[i] = None\n")


def test_fragmented_heap_is_reset_and_the_load_retried(digits_forest):
    clf, X_test = digits_forest
    with eml.connect("virtual", heap_bytes=200 * 1024) as dev:
        # holes of 3000 bytes: plenty free, none as large as the model file
        dev.exec(_FRAGMENT)
        assert dev.eval("(lambda g: (g.collect(), g.mem_free()))(__import__('gc'))[1]") > \
            40_000
        report = dev.deploy(clf, X_test[:30], form="loadable", repeats=2)
        assert report.agreement == 1.0
        assert any("fragmented heap" in n and "reset" in n for n in report.notes)


def test_heap_taken_by_something_else_is_freed_by_a_reset_before_sending():
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    X, y = load_digits(return_X_y=True)
    clf = RandomForestClassifier(n_estimators=30, max_leaf_nodes=100, random_state=0)
    clf.fit(X, y)                                       # a model file of ~50 KB
    with eml.connect("virtual", heap_bytes=200 * 1024) as dev:
        free = dev.info["heap_free_bytes"]
        dev.exec(f"_junk = bytearray({free - 16_000})")  # left over from earlier work
        report = dev.deploy(clf, X[:30], form="loadable", repeats=2)
        assert report.agreement == 1.0
        assert any(n.startswith("reset the device before sending") for n in report.notes)
        assert dev.eval("'_junk' in globals()") is False


def test_model_larger_than_the_heap_is_not_sent(monkeypatch):
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    X, y = load_digits(return_X_y=True)
    big = RandomForestClassifier(n_estimators=60, random_state=0).fit(X, y)
    with eml.connect("virtual", heap_bytes=64 * 1024) as dev:
        writes = []
        real_write = dev.write_file
        monkeypatch.setattr(dev, "write_file",
                            lambda path, data, skip=True: writes.append(path) or
                            real_write(path, data, skip))
        with pytest.raises(eml.DeviceMemoryError,
                           match=r"does not fit the device heap: loading it needs at least "
                                 r"\d+ bytes .* of a \d+-byte heap.*nothing was sent.*"
                                 r"fewer trees"):
            dev.deploy(big, X[:5], form="loadable", name="big")
        assert writes == []
        assert "big.eml" not in dict(dev.listdir())


def test_model_larger_than_the_filesystem_is_not_sent(digits_forest, monkeypatch):
    clf, X_test = digits_forest
    with eml.connect("virtual") as dev:
        monkeypatch.setattr(dev, "fs_free_bytes", lambda: 10_000)
        with pytest.raises(eml.DeviceStorageError,
                           match=r"model 'model' does not fit the device's filesystem: \d+ "
                                 r"bytes to send and 10000 bytes free; nothing was sent\. "
                                 r"Remove files"):
            dev.deploy(clf, X_test[:5], form="loadable")
        assert dev.listdir() == []


def _scratch(dev) -> list:
    return [n for n, _ in dev.listdir() if n.startswith("_emlab_")]


def test_verification_rows_sent_in_batches_within_the_filesystem_and_removed(
        digits_forest, monkeypatch):
    clf, X_test = digits_forest
    with eml.connect("virtual") as dev:
        dev.deploy(clf, X_test[:5], form="loadable", repeats=2)
        assert _scratch(dev) == []
        # a nearly full filesystem: the model's files are there already, the rows must
        # go a few at a time
        monkeypatch.setattr(dev, "fs_free_bytes", lambda: 8192)
        sizes = []
        real_put = dev.put_data
        monkeypatch.setattr(dev, "put_data",
                            lambda path, data: sizes.append(len(data)) or real_put(path, data))
        report = dev.deploy(clf, X_test[:100], form="loadable", repeats=2)
        assert report.agreement == 1.0 and report.n_rows == 100
        assert report.bytes_sent == 0
        assert max(sizes) <= 8192 // 4 and sum(sizes) >= 100 * 64 * 4
        np.testing.assert_array_equal(dev.predict(X_test[:100]), clf.predict(X_test[:100]))
        assert _scratch(dev) == []


# -- the live comparison and feature pipelines: the same rules ------------------------------

def test_live_probes_an_unknown_model_then_sizes_from_it_and_cleans_up(digits_forest,
                                                                     monkeypatch):
    from emlearn_lab.live import LiveComparison
    clf, X_test = digits_forest
    with eml.connect("virtual") as dev:
        jobs = []
        real_exec = dev.exec

        def exec_(code, timeout_s=10.0, what="exec"):
            jobs.append(what)
            return real_exec(code, timeout_s=timeout_s, what=what)

        monkeypatch.setattr(dev, "exec", exec_)
        eng = LiveComparison(dev, {"forest": clf}, X_test[:40], batch=20)
        eng.start()
        assert eng.wait(300) == "done", eng.message
        assert eng.results["forest"]["agree"].all() and eng.n_items == 40
        pieces = [w for w in jobs if w.startswith("items ")]
        # deployed without verification: one item alone, then the rest of the first batch
        # at once (its timeout from that item's device time), then whole batches
        assert pieces == ["items 0-0 of a batch of model 'forest'",
                          "items 1-19 of a batch of model 'forest'",
                          "items 0-19 of a batch of model 'forest'"]
        assert dev.deployments["forest"].us_per_row > 0
        assert _scratch(dev) == []


def test_live_items_larger_than_the_filesystem_allows_go_in_pieces(digits_forest,
                                                                 monkeypatch):
    from emlearn_lab.live import LiveComparison
    clf, X_test = digits_forest
    with eml.connect("virtual") as dev:
        dev.deploy(clf, X_test[:10], name="forest", repeats=2)
        monkeypatch.setattr(dev, "fs_free_bytes", lambda: 8192)
        sizes = []
        real_put = dev.put_data
        monkeypatch.setattr(dev, "put_data",
                            lambda path, data: sizes.append(len(data)) or real_put(path, data))
        eng = LiveComparison(dev, {"forest": clf}, X_test[:64], batch=64)
        eng.start()
        assert eng.wait(300) == "done", eng.message
        assert eng.results["forest"]["agree"].all() and eng.n_items == 64
        assert sizes and max(sizes) <= 8192 // 4
        assert _scratch(dev) == []


def test_pipeline_deploy_batches_windows_and_cleans_up(monkeypatch):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    from emlearn_lab.datasets import load_sample
    from emlearn_lab.features import TimeStats
    rec = load_sample("basic_motions")
    win = eml.windows(rec, window_s=2.0, hop_s=1.0)
    y = np.arange(len(win.X)) % 2
    pipe = make_pipeline(TimeStats(axes="xyz"),
                         RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0))
    pipe.fit(win.X, y)
    with eml.connect("virtual") as dev:
        jobs = []
        real_eval = dev.eval

        def eval_(expression, timeout_s=10.0, what="eval"):
            jobs.append(what)
            return real_eval(expression, timeout_s=timeout_s, what=what)

        monkeypatch.setattr(dev, "eval", eval_)
        report = dev.deploy(pipe, win.X, repeats=5)
        assert report.agreement == 1.0
        windows = [w for w in jobs if w.startswith("windows ")]
        assert windows[0] == f"windows 0-0 of {len(win.X)} ('model')"
        assert dev.deployments["model"].us_per_row > 0
        assert _scratch(dev) == []
        np.testing.assert_array_equal(dev.predict(win.X), pipe.predict(win.X))
        assert _scratch(dev) == []
