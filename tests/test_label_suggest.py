"""Model predictions as labelling suggestions: slots, segments, the least sure unlabelled one."""
import numpy as np
import pytest

import emlearn_lab as eml
from emlearn_lab.labels import suggest


def test_slots_tile_the_recording_and_segments_merge_runs():
    pred = suggest.from_windows([1, 2, 3, 4, 5], ["a", "a", "b", "b", "a"],
                                [0.9, 0.7, 0.6, 0.8, 1.0], duration_s=6, window_s=2)
    assert pred.start_s.tolist() == [0, 1.5, 2.5, 3.5, 4.5]
    assert pred.end_s.tolist() == [1.5, 2.5, 3.5, 4.5, 6]
    segs = suggest.segments(pred)
    assert [(s["start_s"], s["end_s"], s["label"]) for s in segs] == [
        (0, 2.5, "a"), (2.5, 4.5, "b"), (4.5, 6, "a")]
    assert segs[0]["confidence"] == pytest.approx(0.8)


def test_least_confident_unlabelled_skips_labelled_stretches():
    pred = suggest.from_windows(np.arange(1, 10), list("aaabbbccc"),
                                [0.9] * 3 + [0.5] * 3 + [0.7] * 3, duration_s=10,
                                window_s=2)
    segs = suggest.segments(pred)
    labels = eml.LabelSet()
    assert suggest.least_confident_unlabelled(segs, labels, 0.5)["label"] == "b"
    labels.add(3.5, 6.5, "b")
    best = suggest.least_confident_unlabelled(segs, labels, 0.5)
    assert best["label"] == "c" and best["free"] == [(6.5, 10.0)]
    labels.add(0, 3.5, "a")
    labels.add(6.5, 10, "c")
    assert suggest.least_confident_unlabelled(segs, labels, 0.5) is None


def test_free_pieces_subtract_labels():
    labels = eml.LabelSet([(2, 3, "x"), (5, 6, "y")])
    assert suggest.free_pieces(0, 10, labels) == [(0, 2), (3, 5), (6, 10)]
    assert suggest.free_pieces(2.2, 2.8, labels) == []
    assert suggest.free_pieces(0, 10, labels, min_s=2.5) == [(6, 10)]


@pytest.mark.parametrize("kwargs, match", [
    (dict(times_s=[1, 2], classes=["a"]), "one class and confidence per time"),
    (dict(times_s=[1, 99], classes=["a", "b"]), "within the recording"),
    (dict(times_s=[1, 2], classes=["a", "b"], confidence=[0.5, 1.5]), r"\[0, 1\]"),
    (dict(times_s=[], classes=[]), "no predictions"),
])
def test_bad_predictions_say_what_was_expected(kwargs, match):
    with pytest.raises(eml.LabelError, match=match):
        suggest.from_windows(duration_s=10, **kwargs)
