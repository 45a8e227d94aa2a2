"""windows(): exact window contents, dtypes, the three label rules on hand-counted cases,
unlabelled windows, groups and splits, channel selection, and every input error."""
import numpy as np
import pytest

from emlearn_lab.datasets import load_sample, sample_labels_path
from emlearn_lab.exceptions import InputError
from emlearn_lab.labels import LabelSet
from emlearn_lab.recordings.recording import Recording
from emlearn_lab.windowing import Windows, windows


def ramp(n=100, rate=10, n_channels=1, dtype=np.int16, **kwargs):
    data = np.arange(n * n_channels).reshape(n, n_channels).astype(dtype)
    return Recording(data, samplerate_hz=rate, **kwargs)


@pytest.fixture
def mixed():
    """4 s at 10 Hz: one 1 s window per case of the label rules (counted per 10 samples).

    w0: a 5, b 5 | w1: a 5, '' 5 | w2: a 3, b 3, '' 4 | w3: a 4, b 3, '' 3
    """
    rec = ramp(40)
    rows = [(0, 0.5, "a"), (0.5, 1, "b"), (1, 1.5, "a"), (2, 2.3, "a"), (2.3, 2.6, "b"),
            (3, 3.4, "a"), (3.4, 3.7, "b")]
    return rec, rows


def labelled(rec, rows, classes=None):
    return LabelSet(rows, classes=classes, recording=rec)


# -- windows and their samples -------------------------------------------------------------

def test_window_contents_hop_and_tail():
    rec = ramp(100, n_channels=2)
    win = windows(rec, window_s=1.0, hop_s=0.3)
    assert isinstance(win, Windows)
    assert len(win) == win.n_windows == (100 - 10) // 3 + 1 == 31
    assert win.X.shape == (31, 10, 2) and win.X.dtype == np.int16
    for k in range(31):
        np.testing.assert_array_equal(win.X[k], rec.data[3 * k:3 * k + 10])
    np.testing.assert_allclose(win.start_s, np.arange(31) * 0.3)
    assert (win.window_s, win.hop_s, win.samplerate_hz) == (1.0, 0.3, 10.0)
    assert win.channels == ("ch0", "ch1")
    assert win.y.tolist() == [""] * 31 and win.classes == ("",)    # no labels: all kept
    assert win.groups.tolist() == [0] * 31
    assert win.X.flags.c_contiguous and not np.shares_memory(win.X, rec.data)
    tail = windows(rec, window_s=3.0)                            # hop = window; last 1 s dropped
    assert tail.start_s.tolist() == [0.0, 3.0, 6.0] and tail.hop_s == 3.0


def test_lengths_round_to_whole_samples():
    win = windows(ramp(100), window_s=0.31, hop_s=0.19)
    assert win.X.shape[1] == 3 and win.window_s == pytest.approx(0.3)
    assert win.hop_s == pytest.approx(0.2)


def test_dtype_float32_for_floats_and_widest_integer():
    rec = ramp(50, dtype=np.float64)
    win = windows(rec, window_s=1.0)
    assert win.X.dtype == np.float32
    np.testing.assert_array_equal(win.X[2], rec.data[20:30].astype(np.float32))
    both = windows([ramp(50), ramp(50, dtype=np.int32)], window_s=1.0)
    assert both.X.dtype == np.int32
    assert windows([ramp(50), rec], window_s=1.0).X.dtype == np.float32


# -- label rules ---------------------------------------------------------------------------

def test_majority_ties_coverage_and_unlabelled_plurality(mixed):
    rec, rows = mixed
    win = windows(rec, labelled(rec, rows, classes=["b", "a"]), window_s=1.0)
    # w0 tie goes to class order (b first); w1 a class beats unlabelled on a tie, covering 0.5;
    # w2 unlabelled is the plurality; w3 'a' wins but covers 0.4 < min_coverage
    assert win.y.tolist() == ["b", "a"] and win.start_s.tolist() == [0.0, 1.0]
    assert win.classes == ("b", "a")
    open_set = windows(rec, labelled(rec, rows), window_s=1.0)     # classes: creation order
    assert open_set.y.tolist() == ["a", "a"] and open_set.classes == ("a",)
    low = windows(rec, labelled(rec, rows), window_s=1.0, min_coverage=0.4)
    assert low.y.tolist() == ["a", "a", "a"] and low.start_s.tolist() == [0.0, 1.0, 3.0]


def test_center_rule_uses_middle_sample(mixed):
    rec, rows = mixed
    # middle samples 5, 15, 25, 35 are at 0.5 s (b), 1.5 s (unlabelled), 2.5 s (b), 3.5 s (b)
    win = windows(rec, labelled(rec, rows), window_s=1.0, label_rule="center")
    assert win.y.tolist() == ["b", "b", "b"] and win.start_s.tolist() == [0.0, 2.0, 3.0]


def test_any_rule_takes_first_class_present(mixed):
    rec, rows = mixed
    b_first = windows(rec, labelled(rec, rows, classes=["b", "a"]), window_s=1.0,
                      label_rule="any")
    assert b_first.y.tolist() == ["b", "a", "b", "b"]
    a_first = windows(rec, labelled(rec, rows, classes=["a", "b"]), window_s=1.0,
                      label_rule="any")
    assert a_first.y.tolist() == ["a", "a", "a", "a"]
    rare = windows(ramp(40), labelled(ramp(40), [(2.5, 2.6, "hit")]), window_s=1.0,
                   label_rule="any", unlabeled="keep")
    assert rare.y.tolist() == ["unlabeled", "unlabeled", "hit", "unlabeled"]


def test_unlabeled_keep_and_custom_name(mixed):
    rec, rows = mixed
    ls = labelled(rec, rows, classes=["b", "a"])
    keep = windows(rec, ls, window_s=1.0, unlabeled="keep")
    assert keep.y.tolist() == ["b", "a", "unlabeled", "unlabeled"]
    assert keep.classes == ("b", "a", "unlabeled")
    assert keep.counts() == {"b": 1, "a": 1, "unlabeled": 2}
    custom = windows(rec, ls, window_s=1.0, unlabeled="background")
    assert custom.y.tolist() == ["b", "a", "background", "background"]
    assert "b=1, a=1, background=2" in repr(custom)


# -- several recordings: groups, split, subsets --------------------------------------------

def test_groups_and_per_recording_start_times():
    recs = [ramp(30), ramp(50)]
    sets = [labelled(recs[0], [(0, 3, "a")]), labelled(recs[1], [(0, 5, "b")])]
    win = windows(recs, sets, window_s=1.0)
    assert win.groups.tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    assert win.start_s.tolist() == [0, 1, 2, 0, 1, 2, 3, 4]
    assert win.classes == ("a", "b")
    only_first = windows(recs, [sets[0], None], window_s=1.0)   # None: that one is unlabelled
    assert only_first.groups.tolist() == [0, 0, 0]


def test_interval_groups_number_each_labelled_session():
    rec = ramp(100)                      # 10 s: sessions 0-3 s, 3-6 s, a gap, 7-10 s
    ls = labelled(rec, [(0, 3, "a"), (3, 6, "b"), (7, 10, "a")])
    win = windows(rec, ls, window_s=1.0, groups="interval", unlabeled="keep")
    assert win.y.tolist() == list("aaabbb") + ["unlabeled"] + list("aaa")
    assert win.groups.tolist() == [1, 1, 1, 2, 2, 2, 0, 3, 3, 3]   # the gap: group 0
    train, test = windows(rec, ls, window_s=1.0, groups="interval").split(test_size=0.34)
    assert not set(train.groups) & set(test.groups)
    with pytest.raises(InputError, match=r"^The 'groups' parameter of eml\.windows must be "
                                         r"'recording' or 'interval'\. Got 'session' instead"):
        windows(rec, ls, window_s=1.0, groups="session")


def test_split_keeps_recordings_apart():
    recs = [ramp(30 + 10 * i) for i in range(8)]
    sets = [labelled(r, [(0, r.duration_s, "ab"[i % 2])]) for i, r in enumerate(recs)]
    win = windows(recs, sets, window_s=1.0)
    train, test = win.split(test_size=0.25, random_state=0)
    assert not set(train.groups) & set(test.groups)
    assert len(set(test.groups)) == 2 and len(train) + len(test) == len(win)
    again, _ = win.split(test_size=0.25, random_state=0)
    assert again.groups.tolist() == train.groups.tolist()
    with pytest.raises(InputError, match=r"at least 2 recordings, got 1: .*Recording.slice_s"):
        windows(recs[0], sets[0], window_s=1.0).split()


def test_getitem_mask_slice_indices_and_int():
    rec = ramp(40)
    win = windows(rec, labelled(rec, [(0, 2, "a"), (2, 4, "b")]), window_s=1.0)
    assert win[win.y == "b"].y.tolist() == ["b", "b"] and win[win.y == "b"].classes == ("b",)
    assert win[1:3].start_s.tolist() == [1.0, 2.0]
    sub = win[np.array([3, 0])]
    np.testing.assert_array_equal(sub.X[0], win.X[3])
    assert sub.y.tolist() == ["b", "a"] and sub.classes == ("a", "b")
    assert win[2].X.shape == (1, 10, 1)


# -- channels --------------------------------------------------------------------------------

def test_channel_selection_by_name_and_index():
    rec = ramp(30, n_channels=3, channels="xyz")
    win = windows(rec, window_s=1.0, channels=["z", "x"])
    assert win.channels == ("z", "x")
    np.testing.assert_array_equal(win.X[1], rec.data[10:20][:, [2, 0]])
    assert windows(rec, window_s=1.0, channels=[1]).channels == ("y",)
    assert windows(rec, window_s=1.0, channels="y").X.shape == (3, 10, 1)
    assert windows(rec, window_s=1.0, channels=2).channels == ("z",)
    other = ramp(30, n_channels=2, channels=["t", "x"])    # names pick per recording
    both = windows([rec, other], window_s=1.0, channels=["x"])
    np.testing.assert_array_equal(both.X[3:, :, 0], other.data[:, 1].reshape(3, 10))
    with pytest.raises(InputError, match=r"no channel 'w' in recording 0 .*\['x', 'y', 'z'\]"):
        windows(rec, window_s=1.0, channels=["x", "w"])
    with pytest.raises(InputError, match=r"channel index 3 is out of range"):
        windows(rec, window_s=1.0, channels=[3])
    with pytest.raises(InputError, match=r"each channel to keep once"):
        windows(rec, window_s=1.0, channels=["x", "x"])


# -- errors ----------------------------------------------------------------------------------

def test_window_longer_than_a_recording():
    recs = [ramp(100), ramp(80), ramp(32, source="walk.csv")]
    with pytest.raises(InputError, match=r"window_s=5.0 s is longer than recording 2 "
                                         r"\('walk.csv', 3.2 s\): use a shorter window or "
                                         r"drop that recording"):
        windows(recs, window_s=5.0)


def test_nan_in_kept_window_raises_but_dropped_window_does_not():
    data = np.zeros((40, 2))
    data[25, 1] = np.nan
    data[27, 0] = np.nan
    rec = Recording(data, samplerate_hz=10, source="gap.csv")
    with pytest.raises(InputError, match=r"recording 0 \('gap.csv', 4 s\) has 2 samples with "
                                         r"NaN inside kept windows, the first at 2.5 s: fill"):
        windows(rec, window_s=1.0)
    ls = labelled(rec, [(0, 2, "a"), (3, 4, "a")])
    assert windows(rec, ls, window_s=1.0).start_s.tolist() == [0.0, 1.0, 3.0]
    with pytest.raises(InputError, match=r"has 2 samples with NaN"):
        windows(rec, ls, window_s=1.0, unlabeled="keep")
    # samples 20-25 hold ch1's NaN but not ch0's: only the channels selected count
    assert windows(rec, window_s=0.6, hop_s=2.0, channels=["ch0"]).n_windows == 2
    with pytest.raises(InputError, match=r"has 1 sample with NaN .* first at 2.5 s"):
        windows(rec, window_s=0.6, hop_s=2.0)


def test_sample_rate_and_channel_mismatch():
    with pytest.raises(InputError, match=r"different sample rates \(0: 10 Hz, 1: 20 Hz\).*"
                                         r"resample"):
        windows([ramp(40), ramp(40, rate=20)], window_s=1.0)
    with pytest.raises(InputError, match=r"recording 1 \(2 channels\) has a different number "
                                         r"of channels than recording 0 \(1\)"):
        windows([ramp(40), ramp(40, n_channels=2)], window_s=1.0)
    with pytest.raises(InputError, match=r"recording 1 has channels \['y'\] but recording 0 "
                                         r"has \['x'\]: rename"):
        windows([ramp(40, channels="x"), ramp(40, channels="y")], window_s=1.0)


def test_label_pairing_errors():
    a, b = ramp(40), ramp(60)
    with pytest.raises(InputError, match=r"1 LabelSets for 2 recordings"):
        windows([a, b], [labelled(a, [])], window_s=1.0)
    with pytest.raises(InputError, match=r"labels\[0\] were made for a 6 s recording but "
                                         r"recording 0 \(4 s\)"):
        windows([a, b], [labelled(b, []), labelled(a, [])], window_s=1.0)
    with pytest.raises(InputError, match=r"labels\[1\] must be a LabelSet or None, got list"):
        windows([a, b], [None, [(0, 1, "a")]], window_s=1.0)
    with pytest.raises(InputError, match=r"recordings must be a Recording or a list of them, "
                                         r"got ndarray"):
        windows(np.zeros(10), window_s=1.0)
    with pytest.raises(InputError, match=r"recordings\[1\] must be a Recording, got str"):
        windows([a, "b.csv"], window_s=1.0)
    with pytest.raises(InputError, match=r"labels must be a LabelSet or a list of them, got "
                                         r"dict"):
        windows(a, {"a": [(0, 1)]}, window_s=1.0)


_POSITIVE = (r"^The '{}' parameter of eml\.windows must be a number in the range "
             r"\(0, inf\)\. ")


@pytest.mark.parametrize("kwargs, match", [
    ({"window_s": 0}, _POSITIVE.format("window_s") + r"Got 0 instead\.$"),
    ({"window_s": -1.0}, _POSITIVE.format("window_s") + r"Got -1\.0 instead\.$"),
    ({"window_s": float("nan")}, _POSITIVE.format("window_s") + r"Got nan instead\.$"),
    ({"window_s": float("inf")}, _POSITIVE.format("window_s") + r"Got inf instead\.$"),
    ({"window_s": "1"}, _POSITIVE.format("window_s") + r"Got '1' instead\.$"),
    ({"window_s": 1.0, "hop_s": 0.0}, _POSITIVE.format("hop_s") + r"Got 0\.0 instead\.$"),
    ({"window_s": 0.01}, r"window_s=0.01 s is shorter than one sample at 10 Hz \(0.1 s\): "
                         r"use window_s >= 0.1"),
    ({"window_s": 1.0, "hop_s": 0.04}, r"hop_s=0.04 s is shorter than one sample"),
    ({"window_s": 1.0, "label_rule": "mode"},
     r"^The 'label_rule' parameter of eml\.windows must be one of 'majority', 'center', "
     r"'any'\. Got 'mode' instead\.$"),
    ({"window_s": 1.0, "unlabeled": ""},
     r"^The 'unlabeled' parameter of eml\.windows must be 'drop', 'keep' or a class name for "
     r"unlabelled windows\. Got '' instead\.$"),
    ({"window_s": 1.0, "unlabeled": None}, r"^The 'unlabeled' parameter of eml\.windows must "
                                           r"be 'drop', .* Got None instead\.$"),
    ({"window_s": 1.0, "min_coverage": 1.5},
     r"^The 'min_coverage' parameter of eml\.windows must be a number in the range \[0, 1\]\. "
     r"Got 1\.5 instead\.$"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        windows(ramp(40), **kwargs)


def test_no_windows_left():
    rec = ramp(40)
    with pytest.raises(InputError, match=r"no windows left: every window was unlabelled.*"
                                         r"unlabeled='keep'"):
        windows(rec, LabelSet([], recording=rec), window_s=1.0)
    with pytest.raises(InputError, match=r"min_coverage=0.9"):
        windows(rec, labelled(rec, [(0, 0.5, "a")]), window_s=1.0, min_coverage=0.9)


# -- the shipped sample, end to end ----------------------------------------------------------

def split_in_time(rec, labels, part_s):
    """Cut a recording and its labels into parts of ``part_s`` seconds (one group each)."""
    recs, sets = [], []
    for t0 in np.arange(0, rec.duration_s, part_s):
        part = rec.slice_s(t0, t0 + part_s)
        rows = [(max(lab.start_s, t0) - t0, min(lab.end_s, t0 + part_s) - t0, lab.label)
                for lab in labels if lab.end_s > t0 and lab.start_s < t0 + part_s]
        recs.append(part)
        sets.append(LabelSet(rows, recording=part))
    return recs, sets


def test_basic_motions_to_cross_validated_forest():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from emlearn_lab.training import cross_validate

    rec = load_sample("basic_motions")
    labels = LabelSet.load(sample_labels_path("basic_motions"), recording=rec)
    win = windows(rec, labels, window_s=2.0, hop_s=1.0)
    assert win.X.shape == (239, 20, 6) and win.X.dtype == np.float32
    assert win.classes == ("standing", "walking", "running", "badminton")
    parts = windows(*split_in_time(rec, labels, 40.0), window_s=2.0, hop_s=1.0)
    assert sorted(set(parts.groups.tolist())) == list(range(6))
    model = make_pipeline(FunctionTransformer(lambda X: X.reshape(len(X), -1)),
                          RandomForestClassifier(n_estimators=20, random_state=0))
    result = cross_validate(model, parts, cv=3)
    assert len(result["test_score"]) == 3 and result["test_score"].mean() > 0.5
