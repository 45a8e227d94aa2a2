"""Feature extractors on a real MicroPython interpreter: the device computes exactly the
host's features (same source, CPython vs viper machine code), a Pipeline deploys as one
model verified end to end, and corrupt feature files raise on the device without harm."""
import json

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

import emlearn_lab as eml
from emlearn_lab.datasets import load_sample, sample_labels_path
from emlearn_lab.device_src.emlfx_time import STATS
from emlearn_lab.exceptions import DeviceRuntimeError, InputError, UnsupportedModelError
from emlearn_lab.features import FFTBands, LogMel, SoundLevel, TimeStats

pytestmark = pytest.mark.device


@pytest.fixture(scope="module")
def motions():
    rec = load_sample("basic_motions")
    labels = eml.LabelSet.load(sample_labels_path("basic_motions"), recording=rec)
    return eml.windows(rec, labels, window_s=2.0, hop_s=1.0, groups="interval")


def _edge_windows(n=120, channels=3, seed=0):
    """int16 windows at the edges of the range, constant ones, and noise."""
    rng = np.random.default_rng(seed)
    W = rng.integers(-32768, 32768, (12, n, channels)).astype(np.int16)
    W[0], W[1], W[2] = -32768, 32767, 0
    W[3, ::2], W[3, 1::2] = -32768, 32767
    W[4] = (rng.normal(size=(n, channels)) * 3).astype(np.int16)
    return W


@pytest.mark.parametrize("fx", [TimeStats(magnitude=True), TimeStats(axes=[2, 0]),
                                TimeStats(stats=["median", "iqr", "zero_crossings"])],
                         ids=["all+magnitude", "two-axes", "order-stats"])
def test_device_features_equal_host_features_int16(device, fx):
    W = _edge_windows()
    check = device.check_features(fx.fit(W), W, repeats=5)
    assert check.exact, str(check)
    assert check.n_windows == 12 and check.n_features == fx.n_features_out_
    assert check.device_us_median > 0


def test_device_features_equal_host_features_float_recordings(device, motions):
    fx = TimeStats(axes="xyz", magnitude=True).fit(motions.X)
    assert motions.X.dtype == np.float32 and fx.input_dtype_ == "f"
    check = device.check_features(fx, motions.X)
    assert check.exact, str(check)
    assert check.n_windows == len(motions) and "EXACT" in str(check)


def test_a_feature_union_checks_as_one_step(device, motions):
    union = FeatureUnion([("acc", TimeStats(axes=[0, 1, 2], magnitude=True)),
                          ("gyr", TimeStats(axes=[3, 4, 5], stats=["std", "rms"]))])
    union.fit(motions.X)
    check = device.check_features(union, motions.X[:50], repeats=0)
    assert check.exact and check.n_features == 40 + 6


def test_pipeline_deploys_and_verifies_end_to_end(device, motions):
    train, test = motions.split(test_size=0.3, random_state=0)
    pipe = make_pipeline(TimeStats(axes="xyz", magnitude=True),
                         RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0))
    pipe.fit(train.X, train.y)
    report = device.deploy(pipe, test.X, repeats=10)
    assert report.ok and report.agreement == 1.0, str(report)
    assert report.feature_check.exact and report.sklearn_agreement == 1.0
    # Features, predict and their whole timed in one device loop: no figure negative, no
    # part above the whole (median, min and worst window alike).
    assert report.us_per_predict_median > 0 and report.us_per_window_features > 0
    whole = (report.us_per_predict_median, report.us_per_predict_min,
             report.us_per_predict_max)
    for part in ("features", "model predict"):
        assert all(0 <= p <= w for p, w in zip(report.timing_parts[part], whole)), report
    assert report.us_per_window_features == report.timing_parts["features"][0]
    text = str(report)
    if report.instructions_per_us is None:
        assert "features + predict on device" in text and "µs median" in text
        assert "model predict on device" in text and "features on device" in text
    else:
        assert "instructions per features + predict" in text
    np.testing.assert_array_equal(device.predict(test.X), pipe.predict(test.X))


def test_pipeline_regressor_and_a_restarted_device(device, motions):
    y = motions.X[:, :, 0].std(axis=1)
    pipe = make_pipeline(TimeStats(axes=[0, 1]), DecisionTreeRegressor(max_depth=5))
    pipe.fit(motions.X, y)
    report = device.deploy(pipe, motions.X[:40], name="level", repeats=5)
    assert report.ok, str(report)
    device.reset()              # the device forgets what was loaded; predict loads it again
    np.testing.assert_allclose(device.predict(motions.X[:40]),
                               pipe.predict(motions.X[:40]), rtol=1e-6)


def test_pipeline_errors_before_anything_is_sent(device, motions):
    fitted = make_pipeline(TimeStats(), StandardScaler(), RandomForestClassifier(2)).fit(
        motions.X, motions.y)
    with pytest.raises(UnsupportedModelError, match="trees need no scaling"):
        device.deploy(fitted, motions.X)
    pipe = make_pipeline(TimeStats(axes="xyz"), RandomForestClassifier(2, random_state=0))
    pipe.fit(motions.X, motions.y)
    with pytest.raises(InputError, match="fitted on windows of 20 samples x 6 channels, got "
                                         "20 x 3"):
        device.deploy(pipe, motions.X[:, :, :3])
    with pytest.raises(InputError, match="NaN"):
        bad = motions.X[:5].copy()
        bad[2, 3, 1] = np.nan
        device.check_features(pipe[0], bad)


@pytest.fixture(scope="module")
def words():
    rec = load_sample("words")
    labels = eml.LabelSet.load(sample_labels_path("words"), recording=rec)
    return eml.windows(rec, labels, window_s=0.25, hop_s=0.125, groups="interval")


@pytest.mark.parametrize("make", [
    lambda: SoundLevel("A"), lambda: SoundLevel("Z"),
    lambda: FFTBands(n_bands=8, pool="max"),
    lambda: LogMel(n_mels=16, n_fft=256, pool="none")], ids=["dBA", "dBZ", "fft", "logmel"])
def test_audio_features_device_equals_host(device, words, make):
    W = words.X[:8]
    assert W.dtype == np.int16
    check = device.check_features(make().fit(words), W, repeats=2)
    assert check.exact, str(check)
    # float audio (e.g. a float WAV) takes the quantising input stage: still exact
    F = (W / 32768.0).astype(np.float32)
    fx = make()
    fx.samplerate_hz = words.samplerate_hz
    check = device.check_features(fx.fit(F), F, repeats=0)
    assert fx.input_dtype_ == "f" and check.exact, str(check)


def test_audio_pipeline_deploys_end_to_end(device, words):
    rate = words.samplerate_hz
    pipe = make_pipeline(FeatureUnion([("level", SoundLevel("A", samplerate_hz=rate)),
                                       ("mel", LogMel(n_mels=16, n_fft=256, pool="mean",
                                                      samplerate_hz=rate))]),
                         RandomForestClassifier(n_estimators=5, random_state=0))
    pipe.fit(words.X, words.y)
    report = device.deploy(pipe, words.X[:10], name="words", repeats=2)
    assert report.ok and report.feature_check.exact and report.sklearn_agreement == 1.0, \
        str(report)


def _load_on_device(device, path):
    return device.eval(f"__import__('emlfx').load({path!r}).n_features")


@pytest.mark.parametrize("content, message", [
    (b"\x00\xffnot json", "is not valid JSON"),
    (b'{"format": "emlfx", "version": 99, "steps": []}', "has version 99"),
    (b'{"format": "emlfx", "version": 1, "steps": []}', "'steps' must list 1..16"),
    (b'{"format": "emlfx", "version": 1, "steps": [{"module": "os", "cls": "x", '
     b'"params": {}}]}', "needs 'module' \\(emlfx_\\*\\)"),
    (b'{"format": "emlfx", "version": 1, "steps": [{"module": "emlfx_nothere", "cls": "x", '
     b'"params": {}}]}', "not on the device"),
])
def test_corrupt_feature_file_raises_on_device(device, motions, content, message):
    # the runtime modules are on the device after any check
    device.check_features(TimeStats().fit(motions.X[:2]), motions.X[:2], repeats=0)
    device.write_file("bad.fx", content)
    with pytest.raises(DeviceRuntimeError, match=message):
        _load_on_device(device, "bad.fx")
    assert device.eval("1 + 1") == 2         # the device is still there


@pytest.mark.parametrize("change, message", [
    ({"n_samples": 10 ** 9}, "'n_samples' must be an int in \\[1, 16384\\]"),
    ({"axes": [0, 99]}, "'axes' must be a list"),
    ({"stats": [len(STATS)]}, "'stats' must be a list"),
    ({"dtype": "f", "shifts": [1000] * 6}, "'shifts' must be a list"),
])
def test_hostile_parameters_raise_on_device(device, motions, change, message):
    fx = TimeStats().fit(motions.X[:2])
    device.check_features(fx, motions.X[:2], repeats=0)
    spec = {"format": "emlfx", "version": 1, "steps": [fx.device_spec()]}
    spec["steps"][0]["params"].update(change)
    device.write_file("hostile.fx", json.dumps(spec).encode())
    with pytest.raises(DeviceRuntimeError, match=message):
        _load_on_device(device, "hostile.fx")
    assert device.eval("1 + 1") == 2


def test_a_window_of_the_wrong_size_raises_on_device(device, motions):
    fx = TimeStats().fit(motions.X[:2])
    device.check_features(fx, motions.X[:2], name="sized", repeats=0)
    with pytest.raises(DeviceRuntimeError, match="expected a window of 20 samples x 6 "
                                                 "channels of float32 \\(480 bytes\\)"):
        device.eval("_emlab_fx['sized'].transform(bytearray(100)) and 0")


def test_pipeline_estimate_counts_the_extractors_within_what_the_device_measures(device,
                                                                                 motions):
    pipe = make_pipeline(TimeStats(axes="xyz", magnitude=True),
                         RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0))
    pipe.fit(motions.X, motions.y)
    est = eml.estimate(pipe, "virtual", X=motions.X, name="sized")
    model_only = eml.estimate(pipe[-1], "virtual", name="sized")
    report = device.deploy(pipe, motions.X[:4], name="sized", repeats=1)
    extra_files = {p for p, _, _ in report.files} - {p for p, _ in model_only.files}
    assert {p for p, _ in est.files} - {p for p, _ in model_only.files} == extra_files
    # RAM: the extractors' part of the estimate covers what gc.mem_alloc() measured
    extractors_est = est.ram_bytes - model_only.ram_bytes
    assert 0.8 * report.features_ram_bytes <= extractors_est <= 2.5 * report.features_ram_bytes
    assert "feature extractors" in est.notes[-1]
    assert "Pipeline" in str(eml.fit_table(pipe, ["virtual"]))


def test_a_compressed_forest_pipeline_deploys_exactly(device, motions):
    pipe = make_pipeline(TimeStats(axes="xyz", magnitude=True),
                         eml.CompressedTrees(RandomForestClassifier(10, random_state=0),
                                             leaves_per_class=2, leaf_bits=4))
    pipe.fit(motions.X, motions.y)
    report = device.deploy(pipe, motions.X[:30], name="small", repeats=1)
    assert report.ok and report.sklearn_agreement == 1.0, str(report)
    assert "compressed" in report.model
