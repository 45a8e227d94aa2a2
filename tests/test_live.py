"""The live host-vs-device comparison on a real MicroPython interpreter (the virtual device):
every prediction the device makes equals the host's, from rows, a recording, the device's own
sensor; models side by side; stop, resume, a device reset and an unplugged device midway.
The widget's Python half is tested here too (what it sends decodes to the results)."""
import threading
import time

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier

import emlearn_lab as eml
from emlearn_lab.datasets import load_sample, sample_labels_path
from emlearn_lab.exceptions import InputError, NotFittedError
from emlearn_lab.features import TimeStats
from emlearn_lab.live import LiveComparison, live
from emlearn_lab.widgets import live_widget

pytestmark = pytest.mark.device


@pytest.fixture(scope="module")
def motions():
    """The basic_motions recording, a TimeStats + forest pipeline fitted on its windows."""
    rec = load_sample("basic_motions")
    labels = eml.LabelSet.load(sample_labels_path("basic_motions"), recording=rec)
    win = eml.windows(rec, labels, window_s=2.0, hop_s=1.0, groups="interval")
    pipe = make_pipeline(TimeStats(axes="xyz", magnitude=True),
                         RandomForestClassifier(n_estimators=8, max_depth=6, random_state=0))
    return rec, pipe.fit(win.X, win.y)


# Waits below are bounds against a hang, far above what a loaded machine needs, never a
# measure of speed: the tests count what the code decides (items, batches, pushes).
def _run(eng, timeout_s=300):
    eng.start()
    assert eng.wait(timeout_s) == "done", eng.message
    return eng.results


def test_rows_every_prediction_agrees(device, digits_forest):
    clf, X = digits_forest
    X = X[:300]
    eng = LiveComparison(device, {"forest": clf}, X, batch=32)
    assert eng.state == "idle" and eng.total == 300 and eng.source == "rows"
    r = _run(eng)["forest"]
    np.testing.assert_array_equal(r["index"], np.arange(300))
    np.testing.assert_array_equal(r["host"], clf.predict(X))      # scikit-learn's own
    np.testing.assert_array_equal(r["device"], r["host"])
    assert r["agree"].all() and r["agree"].dtype == bool
    assert (r["device_us"] >= 0).all() and r["device_us"].mean() > 0   # ticks_us: 1 us steps
    s = eng.summary()
    assert s["forest"]["n"] == 300 and s["forest"]["agreement"] == 1.0
    assert s["forest"]["disagreements"] == 0 and s.all_agree
    assert 0 <= s["forest"]["device_us_median"] <= s["forest"]["device_us_p95"]
    table = str(s)
    assert "done, 300 of 300 items" in table and "100.0%" in table and "forest" in table
    # deployed under its label; a second comparison of the same object deploys nothing
    deployed = device.deployments["forest"]
    assert deployed.source is clf
    LiveComparison(device, {"forest": clf}, X[:10])
    assert device.deployments["forest"] is deployed


def test_two_models_side_by_side_each_usable_by_name(device, digits_forest):
    clf, X = digits_forest
    X = X[:200]
    small = eml.compress(clf, leaves_per_class=4)
    tree = DecisionTreeClassifier(max_depth=6, random_state=0).fit(X, clf.predict(X))
    models = {"full": clf, "compressed": small, "one tree": tree}
    res = _run(LiveComparison(device, models, X))
    for label, model in models.items():
        assert res[label]["agree"].all(), label
        np.testing.assert_array_equal(res[label]["host"], model.predict(X))
        np.testing.assert_array_equal(res[label]["index"], np.arange(200))
    assert not np.array_equal(res["full"]["host"], res["one tree"]["host"])
    # the registry: each deployed model answers by its name
    assert {"full", "compressed", "live_one_tree"} <= set(device.deployments)
    np.testing.assert_array_equal(device.predict(X[:20], name="full"), clf.predict(X[:20]))
    np.testing.assert_array_equal(device.predict(X[:20], name="compressed"),
                                  small.predict(X[:20]))
    with pytest.raises(eml.DeviceError, match="no model named 'nope'.*'full'"):
        device.predict(X[:2], name="nope")


def test_pipeline_from_a_recording(device, motions):
    rec, pipe = motions
    eng = LiveComparison(device, {"motion": pipe}, recording=rec, hop_s=1.0, batch=64)
    r = _run(eng)["motion"]
    win = eml.windows(rec, window_s=2.0, hop_s=1.0)
    assert len(r["index"]) == len(win) == eng.total
    np.testing.assert_array_equal(r["host"], pipe.predict(win.X))
    assert r["agree"].all()
    np.testing.assert_allclose(r["start_s"], win.start_s)
    assert eng.info("motion")["form"] == "pipeline"


def test_realtime_paces_a_recording_at_its_rate(device, motions):
    rec, pipe = motions
    fast = eml.Recording(rec.data[:300], samplerate_hz=200.0, channels=rec.channels)  # 1.5 s
    updates = []
    eng = LiveComparison(device, {"motion": pipe}, recording=fast, realtime=True)
    eng.on_update(lambda e: updates.append((time.monotonic(), e.n_items)))
    t0 = time.monotonic()
    r = _run(eng)["motion"]
    took = time.monotonic() - t0
    assert len(r["index"]) == 15 and r["agree"].all()
    assert took > 1.3                        # paced: the last window ends at 1.5 s (no upper
    #                                          bound: a loaded host may take longer)
    growing = sorted({n for _, n in updates})
    assert len(growing) >= 4                 # items arrive as their windows complete


def test_the_device_sensor_live(device, motions):
    rec, pipe = motions
    device.playback(eml.Recording(rec.data[:400], samplerate_hz=100.0, channels=rec.channels))
    eng = LiveComparison(device, {"motion": pipe}, sensor_seconds=2.0)
    assert eng.source == "sensor" and eng.total == 10
    r = _run(eng)["motion"]
    assert len(r["index"]) == 10 and r["agree"].all()     # 2 s of 0.2 s windows
    sensed = eng.recording
    np.testing.assert_array_equal(sensed.data, rec.data[:200].astype(np.float32))
    W = sensed.data[:200].reshape(10, 20, 6)
    np.testing.assert_array_equal(r["host"], pipe.predict(W))
    np.testing.assert_allclose(r["start_s"], np.arange(10) * 0.2)


def test_stop_is_prompt_and_start_resumes(device, digits_forest):
    clf, X = digits_forest
    eng = LiveComparison(device, {"forest": clf}, X, loop=True, batch=8)
    assert eng.total is None
    eng.start()
    _until(lambda: eng.n_items >= 100)
    for i in range(30):                 # the notebook uses the device meanwhile (dev.lock)
        assert device.eval(f"{i} + 1") == i + 1
    assert eng.state == "running"
    eng.stop(timeout_s=120)             # an endless stream (loop=True) ends: stop() returned
    assert eng.state == "idle"          # after the batch in progress, not at its time limit
    n = eng.n_items
    time.sleep(0.2)
    assert eng.n_items == n and "start() resumes" in eng.message
    eng.start()
    _until(lambda: eng.n_items >= n + 50)
    # another comparison on the same device stops this one (one stream per device)
    other = LiveComparison(device, {"forest": clf}, X[:16])
    _run(other)
    assert eng.state == "idle"
    r = eng.results["forest"]
    np.testing.assert_array_equal(r["index"], np.arange(len(r["index"])))   # no gap, no repeat
    np.testing.assert_array_equal(r["host"], clf.predict(X[r["index"] % len(X)]))
    assert r["agree"].all()


def test_a_device_reset_midway_reloads_the_model(device, digits_forest):
    clf, X = digits_forest
    eng = LiveComparison(device, {"forest": clf}, X[:400], batch=8)
    eng.start()
    _until(lambda: eng.n_items >= 40)
    device.reset()              # from the notebook, between two batches (dev.lock)
    assert eng.wait(300) == "done"
    assert eng.results["forest"]["agree"].all() and eng.n_items == 400


def test_unplugged_midway_reconnects_and_resumes(digits_forest):
    clf, X = digits_forest
    with eml.connect("virtual") as dev:
        states = []
        eng = LiveComparison(dev, {"forest": clf, "small": eml.compress(clf, leaves_per_class=4)},
                             X, batch=16)
        eng.on_update(lambda e: states.append(e.state))
        eng.start()
        _until(lambda: eng.n_items >= 150)
        dev.virtual.kill()                   # the cable is pulled mid-stream
        _until(lambda: eng.state == "disconnected")
        assert "reconnecting" in eng.message
        status, _, _ = live_widget.build_frame(eng)          # what the widget shows
        assert status["state"] == "disconnected"
        assert status["text"].startswith("disconnected, reconnecting")
        assert eng.wait(300) == "done"
        assert eng.disconnects == 1 and "disconnected" in states
        for r in eng.results.values():
            np.testing.assert_array_equal(r["index"], np.arange(len(X)))   # resumed in place
            assert r["agree"].all()
        assert "1 disconnect" in str(eng.summary())


def test_stop_while_disconnected_then_resume(digits_forest):
    clf, X = digits_forest
    with eml.connect("virtual") as dev:
        eng = LiveComparison(dev, {"forest": clf}, X[:300], batch=8)
        eng.start()
        _until(lambda: eng.n_items >= 40)
        dev.virtual.kill()
        _until(lambda: eng.state == "disconnected")
        eng.stop(timeout_s=120)              # ends the reconnect loop (its wait is the event)
        assert eng.state == "idle" and "start() resumes" in eng.message
        n = eng.n_items
        eng.start()                          # the device is found again, models reloaded
        assert eng.wait(300) == "done" and eng.n_items == 300 > n
        r = eng.results["forest"]
        np.testing.assert_array_equal(r["index"], np.arange(300))
        assert r["agree"].all()


def test_closing_the_device_stops_the_stream(digits_forest):
    clf, X = digits_forest
    dev = eml.connect("virtual")
    eng = LiveComparison(dev, {"forest": clf}, X, loop=True, batch=8)
    eng.start()
    _until(lambda: eng.n_items >= 40)
    dev.close()                              # waits for the batch in progress (dev.lock)
    assert eng.wait(5) == "idle" and "the device was closed" in eng.message
    with pytest.raises(eml.DeviceError, match="was closed: connect again"):
        eng.start()


def test_bad_arguments_fail_before_anything_is_sent(device, digits_forest, motions):
    clf, X = digits_forest
    rec, pipe = motions
    with pytest.raises(InputError, match="exactly one source"):
        LiveComparison(device, {"f": clf})
    with pytest.raises(InputError, match="exactly one source"):
        LiveComparison(device, {"f": clf}, X, sensor_seconds=2)
    with pytest.raises(InputError, match="models must be a dict"):
        LiveComparison(device, [clf], X)
    with pytest.raises(InputError, match="realtime=True paces a recording"):
        LiveComparison(device, {"f": clf}, X, realtime=True)
    with pytest.raises(InputError, match=r"model\(s\) \['f'\] take feature rows"):
        LiveComparison(device, {"f": clf, "p": pipe}, recording=rec)
    with pytest.raises(InputError, match="model 'f': .*64 features"):
        LiveComparison(device, {"f": clf}, X[:, :10])
    with pytest.raises(NotFittedError):
        LiveComparison(device, {"new": RandomForestClassifier()}, X)
    with pytest.raises(InputError, match="sensor_seconds must be a positive"):
        LiveComparison(device, {"p": pipe}, sensor_seconds=-1)
    if "emlab_playback.bin" in dict(device.listdir()):
        device.remove("emlab_playback.bin")
    with pytest.raises(eml.DeviceRuntimeError, match="call dev.playback"):
        LiveComparison(device, {"p": pipe}, sensor_seconds=1)
    assert "new" not in device.deployments


class _Clock:
    """live_widget's ``time`` for a test: monotonic() is what the test sets."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class _Timers:
    """live_widget's ``threading`` for a test: a Timer fires when the test says it is due."""
    Lock = staticmethod(threading.Lock)

    def __init__(self, clock):
        self.clock, self.pending = clock, []

    def Timer(self, wait_s, function):
        timers, due = self, self.clock.now + wait_s

        class Timer:
            def start(self):
                timers.pending.append((due, function, self))

            def cancel(self):
                timers.pending = [p for p in timers.pending if p[2] is not self]
        return Timer()

    def run_due(self, everything=False) -> None:
        due = [p for p in self.pending if everything or p[0] <= self.clock.now]
        self.pending = [p for p in self.pending if p not in due]
        for _, function, _ in due:
            function()


class _Updates:
    """A comparison that only announces updates (the throttle does not look inside)."""
    n = 0

    def on_update(self, callback):
        self.callback = callback
        return lambda: None


def test_widget_throttle_counts_what_it_decides(monkeypatch):
    clock = _Clock()
    timers = _Timers(clock)
    monkeypatch.setattr(live_widget, "time", clock)
    monkeypatch.setattr(live_widget, "threading", timers)
    monkeypatch.setattr(live_widget, "build_frame", lambda eng: ({"n": eng.n}, {}, b""))
    period = 1.0 / live_widget.MAX_UPDATES_PER_S
    eng = _Updates()
    w = live_widget.LiveWidget(eng)
    assert w.pushes == 1                            # the first state, at once
    for i in range(100):                            # 100 updates within one period:
        clock.now, eng.n = i * period / 100, i + 1
        eng.callback(eng)
    assert w.pushes == 1 and len(timers.pending) == 1    # one trailing update scheduled
    clock.now = period
    timers.run_due()
    assert w.pushes == 2 and w.status["n"] == 100        # ...which sends the latest state
    for _ in range(5):                              # updates further apart go out at once
        clock.now += 2 * period
        eng.n += 1
        eng.callback(eng)
    assert w.pushes == 7 and not timers.pending and w.status["n"] == 105
    before, t0 = w.pushes, clock.now
    for i in range(1, 10_001):                      # 10 s of an update every millisecond
        clock.now = t0 + i * 0.001
        timers.run_due()
        eng.n += 1
        eng.callback(eng)
    clock.now += period
    timers.run_due()
    assert w.status["n"] == 10_105                  # the last update went out too
    assert 10 / period - 1 <= w.pushes - before <= 10 / period + 1
    w.close()
    assert not timers.pending


def test_widget_sends_what_the_results_say(device, digits_forest, monkeypatch):
    clf, X = digits_forest
    clock = _Clock()                    # time stands still: every update after the first push
    timers = _Timers(clock)             # waits for one trailing push, which the test fires
    monkeypatch.setattr(live_widget, "time", clock)
    monkeypatch.setattr(live_widget, "threading", timers)
    w = live(device, {"full": clf, "compressed": eml.compress(clf, leaves_per_class=4)},
             X[:600], batch=8)
    eng = w.comparison
    assert eng.wait(300) == "done"
    assert w.pushes == 1 and len(timers.pending) == 1   # throttled: all of it coalesced
    timers.run_due(everything=True)                     # the trailing update
    assert w.pushes == 2
    assert w.status["state"] == "done" and w.status["n"] == 600
    assert "full: 100.0% agree" in w.status["text"]
    w.layout.width = "500px"            # ipywidgets' own layout trait is not shadowed
    assert w.layout.width == "500px"
    layout, frame = w.frame_layout, w.frame
    k, m = layout["k"], layout["m"]
    assert k == live_widget.SHOWN_ITEMS and layout["x"] == [600 - k, 600]
    assert len(frame) == 4 * (k + m + 2 * (4 * k + m))
    f = np.frombuffer(frame, dtype="<f4")
    np.testing.assert_array_equal(f[:k], np.arange(600 - k, 600))
    at = k + m
    res = eng.results
    for info in layout["models"]:
        r = res[info["label"]]
        host, device_, agree, us = (f[at + i * k: at + (i + 1) * k] for i in range(4))
        curve = f[at + 4 * k: at + 4 * k + m]
        np.testing.assert_array_equal(host, r["host_class"][-k:])
        np.testing.assert_array_equal(device_, r["device_class"][-k:])
        np.testing.assert_array_equal(agree, 1.0)
        np.testing.assert_array_equal(us, r["device_us"][-k:].astype(np.float32))
        assert curve[-1] == 1.0 and info["agreement"] == 1.0 and info["kind"] == "classifier"
        assert info["y"] == [-0.5, 9.5] and info["classes"][:3] == ["0", "1", "2"]
        at += 4 * k + m
    # the view's buttons
    w._on_message(w, {"type": "start"}, [])          # done: starts afresh
    _until(lambda: eng.n_items > 0 and eng.state in ("running", "done"))
    w._on_message(w, {"type": "stop"}, [])
    assert eng.state in ("idle", "done") and w.status["state"] == eng.state
    w.close()


def _until(condition, timeout_s=120.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s")
        time.sleep(0.01)


def test_callbacks_run_off_the_caller_thread_and_errors_do_not_stop(device, digits_forest):
    clf, X = digits_forest
    eng = LiveComparison(device, {"forest": clf}, X[:64], batch=16)
    threads = set()

    def broken(e):
        threads.add(threading.current_thread().name)
        raise ValueError("oops")

    eng.on_update(broken)
    with pytest.warns(RuntimeWarning, match="callback .* raised ValueError"):
        _run(eng)
    assert eng.n_items == 64 and any(t.startswith("emlab-live") for t in threads)


def test_latency_axis_follows_the_bulk_not_the_slow_calls():
    """Calls at 15 µs with one in twenty at 180 µs (collections): the axis tops at 50 µs, not
    200 µs (the bulk sat in the bottom 8%); the slow ones are drawn clipped at the top. A
    wide spread keeps nine calls in ten on the axis."""
    bulk = np.r_[np.full(950, 15.0), np.full(50, 180.0)]
    assert live_widget._latency_top([bulk]) == 50.0
    spread = np.r_[np.full(500, 4.0), np.linspace(5, 40, 500)]
    assert np.mean(spread <= live_widget._latency_top([spread])) >= 0.9
    assert live_widget._latency_top([np.full(50, 0.4)]) == 0.5      # a fast device
    assert live_widget._latency_top([np.full(50, 0.4), np.full(50, 30.0)]) == 50.0
    assert live_widget._latency_top([np.zeros(0)]) == 1.0


def test_x_axis_in_time_for_windows_of_a_recording():
    start = np.array([0.0, 1.0, 2.0, 61.5])
    assert live_widget._x_labels(start, 1, 3) == ["1.0 s", "1:01.5"]
    assert live_widget._x_labels(np.full(4, np.nan), 1, 3) == ["1", "item 3"]


def test_ground_truth_is_kept_apart_from_agreement(device, digits_forest, classification_data):
    """With y, each prediction is also checked against the true label: the view gets a
    ground-truth row and the accuracy, which is not the (100%) agreement."""
    clf, X = digits_forest
    y = classification_data["digits"][3]
    eng = LiveComparison(device, {"full": clf}, X[:80], y=y[:80], batch=16)
    r = _run(eng)["full"]
    np.testing.assert_array_equal(r["truth_class"], np.searchsorted(clf.classes_, y[:80]))
    status, layout, frame = live_widget.build_frame(eng)
    k, m = layout["k"], layout["m"]
    assert layout["truth"] and len(frame) == 4 * (k + m + 5 * k + m)
    f = np.frombuffer(frame, dtype="<f4")
    np.testing.assert_array_equal(f[k + m + 4 * k: k + m + 5 * k], r["truth_class"][-k:])
    info = layout["models"][0]
    accuracy = float(np.mean(clf.predict(X[:80]) == y[:80]))
    assert info["agreement"] == 1.0 and info["accuracy"] == pytest.approx(accuracy)
    assert accuracy < 1.0 and info["n_truth"] == 80
    with pytest.raises(InputError, match="y has 3 labels for 80 items of X"):
        LiveComparison(device, {"full": clf}, X[:80], y=y[:3])
    # without labels, nothing of the kind is sent
    _, layout, frame = live_widget.build_frame(LiveComparison(device, {"full": clf}, X[:8]))
    assert not layout["truth"] and layout["models"][0]["accuracy"] is None


def test_a_detector_plots_its_score_and_threshold(device):
    """An anomaly detector streams its score (score_samples units) with its threshold, and
    the ground-truth row says where the device's decision is the label (1 normal, -1
    anomaly)."""
    from sklearn.ensemble import IsolationForest
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(60, 4)), rng.normal(6, 1, size=(10, 4))]).astype("f4")
    y = np.array([1] * 60 + [-1] * 10)
    det = eml.convert(IsolationForest(n_estimators=20, random_state=0).fit(X[:60]))
    det.threshold = eml.anomaly.pick_threshold(det, X, y, metric="balanced_accuracy")
    eng = LiveComparison(device, {"det": det}, X, y=y, batch=32)
    r = _run(eng)["det"]
    assert r["agree"].all()
    np.testing.assert_array_equal(r["host_score"], det.score_samples(X))
    np.testing.assert_array_equal(r["device_score"], r["host_score"])
    np.testing.assert_array_equal(r["device_class"], det.predict_index(X))
    assert eng.info("det")["kind"] == "anomaly"
    assert eng.info("det")["threshold"] == det.threshold
    status, layout, frame = live_widget.build_frame(eng)
    info = layout["models"][0]
    assert info["kind"] == "anomaly" and info["threshold"] == det.threshold
    assert info["y"][0] <= det.threshold <= info["y"][1]
    k, m = layout["k"], layout["m"]
    f = np.frombuffer(frame, dtype="<f4")
    right = det.predict(X) == y
    np.testing.assert_array_equal(f[k + m + 4 * k: k + m + 5 * k], right[-k:])
    assert info["accuracy"] == pytest.approx(right.mean())
