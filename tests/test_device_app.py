"""The standalone app: post-processing semantics and validation on the host, post-processing
bit for bit on the device (adversarial score streams), simulate == the installed app's events
on the virtual device, and install / uninstall / atomicity.

The emulated Cortex-M3 part (single-precision floats, Thumb code) is in
tests/test_device_app_mcu.py."""
import array
import json

import numpy as np
import pytest
from sklearn.covariance import EllipticEnvelope
from sklearn.ensemble import IsolationForest, RandomForestClassifier, RandomForestRegressor
from sklearn.pipeline import FeatureUnion, make_pipeline

import emlearn_lab as eml
from emlearn_lab.app import post as P
from emlearn_lab.device_src import emlab_post

# -- shared fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def motions():
    rec = eml.datasets.load_sample("basic_motions")
    labels = eml.LabelSet.load(eml.datasets.sample_labels_path("basic_motions"), recording=rec)
    w = eml.windows(rec, labels, window_s=2.0, hop_s=0.5)
    pipe = make_pipeline(eml.features.TimeStats(axes=[0, 1, 2], magnitude=True),
                         RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0))
    pipe.fit(w.X, w.y)
    return rec, labels, pipe


def motion_app(pipe, **kw):
    kw.setdefault("post", eml.post.Smooth(votes=3) | eml.post.MinDuration(1.0)
                  | eml.post.MergeGaps(0.5))
    return eml.DeviceApp(pipe, eml.sensors.Playback(realtime=False), window_s=2.0,
                         hop_s=0.5, **kw)


def names_on(device):
    return {name for name, _ in device.listdir()}


def keys(events):
    return [e.key for e in events]


def board_keys(device, app, rec, run):
    """The events of ``app`` installed on the device with ``rec`` as its sensor, over the
    windows ``run`` (its simulate) covers."""
    device.playback(rec)
    device.install(app)
    return keys(device.app_output(windows=run.n_windows, realtime=False).events)


# -- post-processing on the host --------------------------------------------------------------


def _events(spec, decisions, n_outputs=3, scores=None):
    if scores is None:
        scores = np.zeros((len(decisions), n_outputs), dtype=np.int32)
    return P.run(spec, n_outputs, np.asarray(decisions), scores)


def test_min_duration_dates_the_event_back_and_drops_short_runs():
    d = [0, 0, 1, 0, 0, 0, 2, 2]
    _, ev = _events([["min_duration", 3]], d)
    assert ev == [(3, 6, 0)]
    _, ev = _events([["min_duration", 1]], d)
    assert ev == [(0, 2, 0), (2, 3, 1), (3, 6, 0), (6, 8, 2)]


def test_merge_gaps_joins_a_class_that_comes_back_within_the_gap():
    d = [1, 1, 0, 0, 1, 1, 0, 0, 0, 1]
    # class 0 makes no event: the gap of two windows is bridged, the gap of three is not
    _, ev = _events([["ignore", [0]], ["merge_gaps", 2]], d)
    assert ev == [(0, 6, 1), (9, 10, 1)]
    # a run of another class too short to be an event is a gap too; one that becomes an
    # event ends the open one (events never overlap)
    _, ev = _events([["min_duration", 3], ["merge_gaps", 2]], [1, 1, 1, 0, 0, 1, 0, 0, 0, 1])
    assert ev == [(0, 6, 1), (6, 9, 0)]
    _, ev = _events([["merge_gaps", 2]], d)
    assert ev[:2] == [(0, 2, 1), (2, 4, 0)]


def test_majority_smoothing_and_ties_go_to_the_first_class():
    spec = [["smooth", 3, "majority"]]
    dec, _ = _events(spec, [2, 2, 1, 1, 0, 2, 1])
    # warm-up: the ring starts full of "no event" (-1), which loses ties to any class
    assert dec.tolist() == [-1, 2, 2, 1, 1, 0, 0]


def test_sum_smoothing_and_hysteresis_on_the_summed_score():
    scores = np.array([[0, 10], [0, 30], [0, 0], [0, 0], [0, 30], [0, 30]], dtype=np.int32)
    spec = [["smooth", 2, "sum"], ["hysteresis", 1, 40, 20]]
    dec, ev = P.run(spec, 2, np.zeros(6, dtype=np.int64), scores)
    # summed class-1 scores: 10 40 30 0 30 60 -> on from 40, on while >= 20, then off
    # until the sum reaches 40 again
    assert dec.tolist() == [-1, 1, 1, -1, -1, 1]
    assert ev == [(1, 3, 1), (5, 6, 1)]


def test_float_scores_enter_as_truncated_fixed_point():
    vals = [1.5 / 65536, -1.5 / 65536, float("nan"), float("inf"), -1e30, 2.0 ** 14, 0.25]
    assert [emlab_post.fixed(v) for v in vals] == [1, -1, -2**30, 2**30, -2**30, 2**30, 16384]


def test_the_device_source_refuses_bad_specs():
    with pytest.raises(ValueError, match="must come before"):
        emlab_post.Post([["min_duration", 2], ["smooth", 3, "majority"]], 2, False, None, None)
    with pytest.raises(ValueError, match="appears twice"):
        emlab_post.Post([["merge_gaps", 2], ["merge_gaps", 1]], 2, False, None, None)
    with pytest.raises(ValueError, match=r"n must be an int in \[1, 4096\]"):
        emlab_post.Post([["smooth", 0, "sum"]], 2, False, None, None)
    with pytest.raises(ValueError, match="off <= on"):
        emlab_post.Post([["hysteresis", 0, 5, 9]], 2, False, None, None)


def test_chain_validation_messages(motions):
    _, _, pipe = motions
    with pytest.raises(eml.InputError, match="per-window stages .* put Smooth earlier"):
        motion_app(pipe, post=eml.post.MinDuration(1) | eml.post.Smooth(3))
    with pytest.raises(eml.InputError, match="appears twice"):
        motion_app(pipe, post=eml.post.Smooth(3) | eml.post.Smooth(5))
    with pytest.raises(eml.InputError, match="chains eml.post stages"):
        eml.post.Smooth(3) | "median"
    with pytest.raises(eml.InputError, match="'cls' parameter of eml.post.Hysteresis must be "
                                             "one of the model's classes"):
        motion_app(pipe, post=eml.post.Hysteresis(0.6, 0.4, cls="swimming"))
    with pytest.raises(eml.InputError, match="'how' parameter of eml.post.Smooth"):
        eml.post.Smooth(3, how="median")


def test_hysteresis_thresholds_are_probabilities_of_a_forest(motions):
    _, _, pipe = motions
    app = motion_app(pipe, post=eml.post.Smooth(4, how="mean")
                     | eml.post.Hysteresis(0.6, 0.4, cls="walking"))
    model = app.model
    k = list(model.classes_).index("walking")
    spec = app.post_spec(0.5)
    # score >= 0.6 (a mean probability over 4 windows) <=> summed integer score >= the bound
    assert spec[1] == ["hysteresis", k, int(np.ceil(0.6 * model.score_denominator * 4)),
                       int(np.ceil(0.4 * model.score_denominator * 4))]


def test_app_validation_messages(motions):
    rec, _, pipe = motions
    with pytest.raises(eml.InputError, match="'hop_s' parameter of eml.DeviceApp must be a "
                                             "number in the range"):
        eml.DeviceApp(pipe, window_s=2.0, hop_s=3.0)
    app = eml.DeviceApp(pipe, window_s=2.5, hop_s=0.5)
    with pytest.raises(eml.InputError, match="window_s=2.5 at 10 Hz is 25 samples; the "
                                             "extractors were fitted on windows of 20 samples: "
                                             "use window_s=2"):
        app.simulate(rec)
    with pytest.raises(eml.InputError, match="'on_event' parameter"):
        eml.DeviceApp(pipe, window_s=2.0, on_event="print")
    app = motion_app(pipe)
    short = eml.Recording(rec.data[:10], samplerate_hz=10)
    with pytest.raises(eml.InputError, match="shorter than one window"):
        app.simulate(short)


def test_simulate_finds_the_activities_of_the_motions_sample(motions):
    rec, labels, pipe = motions
    run = motion_app(pipe).simulate(rec)
    assert run.n_windows == 1 + (len(rec.data) - 20) // 5
    # 24 labelled ten-second activities: the model saw them in training, so the smoothed
    # events should follow them closely
    assert 20 <= len(run.events) <= 30
    assert {e.label for e in run.events} == set(labels.classes)


# -- on the virtual device --------------------------------------------------------------------


def _stream(rng, n, k, floats):
    if not floats:
        big = rng.integers(-2**31, 2**31, size=(n, k))
        small = rng.integers(-3, 4, size=(n, k))          # ties everywhere
        pick = rng.random((n, 1)) < 0.5
        return np.where(pick, small, big).astype(np.int32)
    s = rng.normal(0, 2, size=(n, k)).astype(np.float32)
    special = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 2.0**14, -2.0**14, 1e-40, -0.0,
                        1.5 / 65536, 16383.99999], dtype=np.float32)
    mask = rng.random((n, k)) < 0.15
    s[mask] = rng.choice(special, size=int(mask.sum()))
    return s


def _random_spec(rng, k):
    spec = []
    if rng.random() < 0.7:
        spec.append(["smooth", int(rng.integers(1, 8)), str(rng.choice(["majority", "sum"]))])
    if rng.random() < 0.5:
        on = int(rng.integers(-100000, 100000))
        spec.append(["hysteresis", int(rng.integers(0, k)), on, on - int(rng.integers(0, 50000))])
    if rng.random() < 0.3:
        spec.append(["ignore", sorted({int(rng.integers(0, k)) for _ in range(2)})])
    if rng.random() < 0.6:
        spec.append(["min_duration", int(rng.integers(1, 5))])
    if rng.random() < 0.6:
        spec.append(["merge_gaps", int(rng.integers(0, 5))])
    return spec


DEVICE_POST_RUNNER = """
import array, emlab_post, json
def _emlab_post_check(spec, k, floats, path, n):
    ev = []
    post = emlab_post.Post(spec, k, floats, lambda s, c: ev.append(('on', s, c)),
                           lambda s, e, c: ev.append(('off', s, e, c)))
    d = array.array('i', [0])
    sc = array.array('f' if floats else 'i', [0] * k)
    out = []
    with open(path, 'rb') as f:
        for i in range(n):
            f.readinto(d)
            f.readinto(sc)
            out.append(post.push(i, d[0], sc))
    post.finish()
    return out, ev
"""


def post_cases(seed, n_cases, n_windows=160):
    rng = np.random.default_rng(seed)
    for _ in range(n_cases):
        k = int(rng.integers(1, 6))
        floats = bool(rng.random() < 0.5)
        spec = _random_spec(rng, k)
        scores = _stream(rng, n_windows, k, floats)
        index = rng.integers(0, k, size=n_windows)
        yield spec, k, floats, index, scores


def check_post_on_device(dev, seed, n_cases):
    """Every case's decisions and on/off events from the device's emlab_post == the host's
    run of the same source (CPython)."""
    from emlearn_lab.runtime.artifacts import module_artifact
    art = module_artifact("emlab_post", dev.target, False, [])
    dev.write_file(art.path, art.data)
    dev.exec("import sys\nsys.modules.pop('emlab_post', None)\n" + DEVICE_POST_RUNNER)
    for spec, k, floats, index, scores in post_cases(seed, n_cases):
        dtype = "<f4" if floats else "<i4"
        data = b"".join(np.int32(index[i]).tobytes() + scores[i].astype(dtype).tobytes()
                        for i in range(len(index)))
        dev.put_data("post_case.bin", data)
        dec, ev = dev.eval(f"_emlab_post_check({spec!r}, {k}, {floats}, 'post_case.bin', "
                           f"{len(index)})", timeout_s=60)
        host_on = []
        post = emlab_post.Post(spec, k, floats, lambda s, c: host_on.append(("on", s, c)),
                               lambda s, e, c: host_on.append(("off", s, e, c)))
        tc = "f" if floats else "i"
        host_dec = [post.push(i, int(index[i]), array.array(tc, scores[i].astype(dtype)
                                                            .tobytes()))
                    for i in range(len(index))]
        post.finish()
        assert dec == host_dec, spec
        assert [tuple(e) for e in ev] == host_on, spec
    dev.remove_quietly(["post_case.bin"])


@pytest.mark.device
def test_post_processing_is_bit_exact_on_the_device(device):
    check_post_on_device(device, seed=11, n_cases=25)


@pytest.mark.device
def test_installed_app_produces_the_simulated_events(device, motions):
    rec, _, pipe = motions
    app = motion_app(pipe, on_event=eml.actions.Print() | eml.actions.Log("ev.log"))
    run = app.simulate(rec)
    device.playback(rec)
    result = device.install(app)
    check = device.check_app(app, rec)
    assert check.identical and "IDENTICAL" in repr(check)
    out = check.device
    assert out.n_windows == run.n_windows
    assert keys(out.events) == keys(run.events)
    assert [(e.start_s, e.end_s) for e in out.events] == [(e.start_s, e.end_s)
                                                         for e in run.events]
    assert out.app_ram_bytes > 0 and out.busy_us > 0
    assert result["app_ram_bytes"] > 0
    log = device.read_file("ev.log").decode().splitlines()
    assert [ln for ln in log if " off " in ln] == [ln for ln in out.lines if " off " in ln]


@pytest.mark.device
def test_installed_regressor_app_with_hysteresis(device, motions):
    rec, labels, pipe = motions
    w = eml.windows(rec, labels, window_s=2.0, hop_s=0.5)
    y = (w.y == "running").astype(float) * 3.0 + (w.y == "walking")
    reg = make_pipeline(eml.features.TimeStats(axes=[0, 1, 2]),
                        RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0))
    reg.fit(w.X, y)
    app = eml.DeviceApp(reg, eml.sensors.Playback(realtime=False), window_s=2.0, hop_s=0.5,
                        post=eml.post.Smooth(3, how="mean") | eml.post.Hysteresis(2.0, 1.0)
                        | eml.post.MinDuration(1.0))
    run = app.simulate(rec)
    assert run.events and {e.label for e in run.events} == {"value"}
    assert board_keys(device, app, rec, run) == keys(run.events)


@pytest.mark.device
@pytest.mark.parametrize("make", [
    lambda: IsolationForest(n_estimators=20, random_state=0),
    lambda: EllipticEnvelope(random_state=0),
], ids=["isolation_forest", "elliptic_envelope"])
def test_installed_detector_app_raises_the_simulated_alarms(device, motions, make):
    """A detector fitted on normal windows only (no badminton) as an app: the anomaly events
    (class -1, the normal class ignored) on the board are those simulate predicts."""
    rec, labels, _ = motions
    w = eml.windows(rec, labels, window_s=2.0, hop_s=0.5)
    fx = eml.features.TimeStats(stats=["mean", "std", "min", "max"])
    F = fx.fit(w.X).transform(w.X)
    normal = w.y != "badminton"
    det = eml.convert(make().fit(F[normal].astype(np.float64)))
    det.threshold = eml.anomaly.pick_threshold(det, F, np.where(normal, 1, -1), fpr=0.05)
    app = eml.DeviceApp(make_pipeline(fx, det), eml.sensors.Playback(realtime=False),
                        window_s=2.0, hop_s=0.5,
                        post=eml.post.Smooth(3) | eml.post.Ignore(1) | eml.post.MinDuration(2.0))
    run = app.simulate(rec)
    assert run.events and {e.label for e in run.events} == {"-1"}
    assert board_keys(device, app, rec, run) == keys(run.events)


@pytest.mark.device
def test_installed_neighbours_app_produces_the_simulated_events(device, motions):
    from sklearn.neighbors import KNeighborsClassifier
    rec, labels, _ = motions
    w = eml.windows(rec, labels, window_s=2.0, hop_s=1.0)
    fx = eml.features.TimeStats(axes=[0, 1, 2], stats=["mean", "std"])
    knn = make_pipeline(fx, KNeighborsClassifier(3, weights="distance"))
    app = motion_app(knn.fit(w.X, w.y))
    run = app.simulate(rec)
    assert len({e.label for e in run.events}) == 4
    assert board_keys(device, app, rec, run) == keys(run.events)


@pytest.mark.device
@pytest.mark.slow
def test_installed_audio_app_produces_the_simulated_events(device):
    rec = eml.datasets.load_sample("instruments")
    labels = eml.LabelSet.load(eml.datasets.sample_labels_path("instruments"), recording=rec)
    rate = rec.samplerate_hz
    w = eml.windows(rec, labels, window_s=0.25, hop_s=0.125, unlabeled="silence")
    pipe = make_pipeline(
        FeatureUnion([("mel", eml.features.LogMel(n_mels=16, n_fft=256, pool="mean",
                                                  samplerate_hz=rate)),
                      ("level", eml.features.SoundLevel("A", samplerate_hz=rate))]),
        RandomForestClassifier(n_estimators=6, max_depth=6, random_state=0))
    pipe.fit(w.X, w.y)
    app = eml.DeviceApp(pipe, eml.sensors.Playback(realtime=False), window_s=0.25,
                        hop_s=0.125, post=eml.post.Ignore("silence") | eml.post.MergeGaps(0.125))
    run = app.simulate(rec)
    assert run.events
    assert board_keys(device, app, rec, run) == keys(run.events)


@pytest.mark.device
def test_install_is_atomic_and_uninstall_removes_the_app(device, motions):
    rec, _, pipe = motions
    device.uninstall()
    good = motion_app(pipe)
    device.playback(rec)
    device.install(good)
    cfg = json.loads(device.read_file("emlab_app.json"))
    before = names_on(device)
    # A new app whose sensor gives another number of channels: the trial load on the board
    # refuses it, and the installed app is untouched.
    bad = eml.DeviceApp(pipe, eml.sensors.Playback(realtime=False), window_s=2.0, hop_s=0.5)
    two = eml.Recording(rec.data[:, :2], samplerate_hz=rec.samplerate_hz)
    device.playback(two)
    with pytest.raises(eml.DeviceError, match="the new app was not installed, the installed "
                                              "app is unchanged: .*2 channels"):
        device.install(bad)
    assert json.loads(device.read_file("emlab_app.json")) == cfg
    assert names_on(device) == before
    device.playback(rec)
    run = good.simulate(rec)
    assert keys(device.app_output(windows=run.n_windows, realtime=False).events) == \
        keys(run.events)
    # a second install goes to the other generation and removes the first one's files
    device.install(good)
    cfg2 = json.loads(device.read_file("emlab_app.json"))
    assert cfg2["generation"] != cfg["generation"]
    names = names_on(device)
    assert not names & set(cfg["files"]) and set(cfg2["files"]) <= names
    assert device.uninstall()
    names = names_on(device)
    assert "main.py" not in names and "emlab_app.json" not in names
    assert not names & set(cfg2["files"])
    assert not device.uninstall()
    with pytest.raises(eml.InputError, match="no app is installed"):
        device.app_output(seconds=1)


@pytest.mark.device
def test_safe_boot_file_keeps_the_app_from_starting(device, motions):
    rec, _, pipe = motions
    device.playback(rec)
    device.install(motion_app(pipe))
    device.write_file("emlab_app.off", b"")
    try:
        with pytest.raises(eml.DeviceError, match="emlab_app.off exists"):
            device.app_output(windows=3)
    finally:
        device.remove("emlab_app.off")
    assert device.app_output(windows=3, realtime=False).n_windows == 3


@pytest.mark.device
def test_install_refuses_a_main_py_it_did_not_write(device, motions):
    rec, _, pipe = motions
    device.uninstall()
    device.write_file("main.py", b"print('my own app')\n")
    try:
        with pytest.raises(eml.InputError, match="main.py that is not the app launcher"):
            device.install(motion_app(pipe))
        assert "emlab_app.json" not in names_on(device)
        device.install(motion_app(pipe), autostart=False)
        assert device.read_file("main.py") == b"print('my own app')\n"
    finally:
        device.remove("main.py")
        device.uninstall()


@pytest.mark.device
def test_install_refuses_an_app_that_cannot_keep_up(device, motions):
    rec, _, pipe = motions
    device.uninstall()
    fast = eml.Recording(rec.data, samplerate_hz=100_000)
    # 20-sample windows every sample at 100 kHz: a window every 10 µs, far less than the
    # features and forest take in MicroPython on any board
    app = eml.DeviceApp(pipe, eml.sensors.Playback(realtime=False), window_s=2e-4, hop_s=1e-5)
    device.playback(fast)
    before = names_on(device)
    with pytest.raises(eml.InputError, match=r"cannot keep up on this board: a window takes "
                                             r"up to \d+ µs .* every 10 µs"):
        device.install(app, fast)
    assert names_on(device) == before


@pytest.mark.device
def test_a_missing_driver_is_refused_and_nothing_stays_behind(device, motions):
    rec, _, pipe = motions
    device.uninstall()
    before = names_on(device)
    sensor = eml.sensors.Custom("nosuchdriver.IMU()", samplerate_hz=10.0,
                                channels=tuple(rec.channels), typecode="f")
    app = eml.DeviceApp(pipe, sensor, window_s=2.0, hop_s=0.5)
    with pytest.raises(eml.DeviceError, match="the new app was not installed, nothing was "
                                              "installed: .*nosuchdriver"):
        device.install(app)
    # the shared runtime modules may stay; the app's own files and config do not
    left = names_on(device) - before
    assert not {n for n in left if n.startswith("app_") or n.startswith("emlab_app.json")}


@pytest.mark.device
def test_the_event_log_rotates_and_stays_bounded(device, motions):
    rec, _, pipe = motions
    app = motion_app(pipe, on_event=eml.actions.Print() | eml.actions.Log("ev.log", 256))
    device.playback(rec)
    device.install(app)
    device.remove_quietly(["ev.log", "ev.log.old"])
    out = device.app_output(windows=app.simulate(rec).n_windows, realtime=False)
    files = dict(device.listdir())
    assert 0 < files["ev.log"] <= 256 and 0 < files["ev.log.old"] <= 256
    printed = [ln for ln in out.lines if ln.startswith("emlab_app o")]
    logged = (device.read_file("ev.log.old") + device.read_file("ev.log")).decode()
    # the newest lines, in order, across the rotated file and the current one
    assert logged.splitlines() == printed[-len(logged.splitlines()):]


@pytest.mark.device
def test_a_corrupt_config_is_a_clear_error_and_the_board_still_answers(device, motions):
    rec, _, pipe = motions
    device.playback(rec)
    device.install(motion_app(pipe))
    good = device.read_file("emlab_app.json")
    try:
        device.write_file("emlab_app.json", good[:40])
        with pytest.raises(eml.DeviceError, match="emlab_app.json on the board is not valid "
                                                  r"JSON \(.*\): install the app again"):
            device.app_output(windows=2)
        # at boot the board reads it itself and says the same
        with pytest.raises(eml.DeviceError, match="is not valid JSON .* install the app again"):
            device.exec("import emlab_app\nemlab_app.main(max_windows=1)")
        cfg = json.loads(good)
        cfg["post"] = [["smooth", 0, "sum"]]
        device.write_file("emlab_app.json", json.dumps(cfg).encode())
        with pytest.raises(eml.DeviceError, match=r"n must be an int in \[1, 4096\]"):
            device.app_output(windows=2)
        assert device.eval("1 + 1") == 2
    finally:
        device.write_file("emlab_app.json", good)
    assert device.app_output(windows=2, realtime=False).n_windows == 2


@pytest.mark.device
def test_a_one_output_network_app_votes_over_its_two_classes(device, motions):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    rec, labels, _ = motions
    w = eml.windows(rec, labels, window_s=2.0, hop_s=0.5)
    y = np.where(w.y == "running", "running", "other")
    pipe = make_pipeline(eml.features.TimeStats(axes=[0, 1, 2]),
                         MLPClassifier((8,), max_iter=300, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(w.X, y)
    with pytest.raises(eml.InputError, match="reads one score per class; this 2-class model "
                                             "has 1 .* use Smooth\\(how='majority'\\)"):
        motion_app(pipe, post=eml.post.Smooth(3, how="mean"))
    app = motion_app(pipe, post=eml.post.Smooth(3) | eml.post.Ignore("other")
                     | eml.post.MinDuration(1.0))
    run = app.simulate(rec)
    assert run.events and {e.label for e in run.events} == {"running"}
    device.playback(rec)
    device.install(app)
    assert device.check_app(app, rec).identical
