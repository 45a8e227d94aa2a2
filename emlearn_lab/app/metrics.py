"""How well predicted events match reference labels: event-based and segment-based counts of
true positives, false positives and false negatives per class, with precision, recall and F1
(the definitions of sed_eval, Mesaros et al. 2016).

Event-based: a predicted event is a true positive when it has the class of a reference event,
starts within ``onset_tolerance_s`` of it and, when offsets are evaluated, ends within
``max(offset_tolerance_s, offset_fraction * reference length)`` of its end. Each reference
and each prediction is matched at most once; the matching is optimal (the most true positives
possible, then the smallest total distance between matched boundaries), not greedy.
Segment-based: per fixed segment (1 s) and class, active in the reference vs in the prediction.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..exceptions import InputError
from ..validate import invalid, number_in

__all__ = ["EventScores", "event_scores", "segment_scores"]

_EPS = 1e-9         # seconds: boundaries computed from hops (0.1 + 0.2) meet the tolerance


class EventScores:
    """True positives, false positives and false negatives per class, and what follows.

    ``precision``, ``recall`` and ``f1`` are micro-averaged over classes (from the summed
    counts); ``macro_f1`` is the mean of the classes' F1. A ratio of zero counts is NaN.
    Scores of several recordings add up with ``+`` (micro-averaging over recordings).

    Attributes
    ----------
    counts : dict
        class -> (tp, fp, fn), classes in the order of the labels' classes.
    criterion : str
        What counted as a match, e.g. ``"events, onset ±0.5 s"``.
    """

    def __init__(self, counts: dict, criterion: str):
        self.counts = dict(counts)
        self.criterion = criterion

    @property
    def classes(self) -> tuple:
        return tuple(self.counts)

    def _total(self, i: int) -> int:
        return sum(c[i] for c in self.counts.values())

    tp = property(lambda self: self._total(0), doc="true positives over every class")
    fp = property(lambda self: self._total(1), doc="false positives over every class")
    fn = property(lambda self: self._total(2), doc="false negatives over every class")

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def macro_f1(self) -> float:
        f1s = [_ratio(2 * tp, 2 * tp + fp + fn) for tp, fp, fn in self.counts.values()]
        f1s = [f for f in f1s if not math.isnan(f)]
        return float(np.mean(f1s)) if f1s else math.nan

    def __add__(self, other: EventScores) -> EventScores:
        if not isinstance(other, EventScores):
            return NotImplemented
        if other.criterion != self.criterion:
            raise InputError(f"cannot add scores of '{self.criterion}' and "
                             f"'{other.criterion}': score every recording the same way")
        counts = dict(self.counts)
        for cls, (tp, fp, fn) in other.counts.items():
            a, b, c = counts.get(cls, (0, 0, 0))
            counts[cls] = (a + tp, b + fp, c + fn)
        return EventScores(counts, self.criterion)

    def to_frame(self):
        """A pandas DataFrame: one row per class and an ``overall`` (micro-averaged) row."""
        import pandas as pd
        rows = [(cls, tp, fp, fn, _ratio(tp, tp + fp), _ratio(tp, tp + fn),
                 _ratio(2 * tp, 2 * tp + fp + fn)) for cls, (tp, fp, fn) in self.counts.items()]
        rows.append(("overall", self.tp, self.fp, self.fn, self.precision, self.recall,
                     self.f1))
        return pd.DataFrame(rows, columns=["class", "tp", "fp", "fn", "precision", "recall",
                                           "f1"]).set_index("class")

    def _headline(self) -> str:
        return (f"F1 {self.f1:.3f}, precision {self.precision:.3f}, recall {self.recall:.3f} "
                f"({self.tp} tp, {self.fp} fp, {self.fn} fn)")

    def __repr__(self) -> str:
        width = max([5] + [len(c) for c in self.counts])
        lines = [f"EventScores({self.criterion}): {self._headline()}",
                 f"  {'class':<{width}}    tp    fp    fn  precision  recall     f1"]
        for cls, (tp, fp, fn) in self.counts.items():
            p, r, f = (_ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn))
            lines.append(f"  {cls:<{width}} {tp:5d} {fp:5d} {fn:5d}  {p:9.3f}  {r:6.3f}  {f:5.3f}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (f"<p>EventScores ({self.criterion}): {self._headline()}</p>"
                + self.to_frame().to_html(float_format=lambda v: f"{v:.3f}"))


def _ratio(a: int, b: int) -> float:
    return a / b if b else math.nan


def intervals(items, name: str, owner: str) -> list:
    """(start_s, end_s, label) tuples from Events, Labels, a LabelSet, an AppRun or tuples."""
    items = getattr(items, "events", items)          # an AppRun
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise invalid(name, items, "a LabelSet, a list of eml.post.Event or a list of "
                      "(start_s, end_s, label)", owner=owner)
    out = []
    for i, item in enumerate(items):
        if hasattr(item, "start_s") and hasattr(item, "label"):
            row = (item.start_s, item.end_s, item.label)
        elif isinstance(item, (tuple, list)) and len(item) == 3:
            row = tuple(item)
        else:
            raise invalid(f"{name}[{i}]", item, "an Event, a Label or (start_s, end_s, label)",
                          owner=owner)
        a, b, label = row
        if not all(isinstance(v, numbers.Real) and math.isfinite(v) for v in (a, b)) or b < a:
            raise invalid(f"{name}[{i}]", item, "an interval with finite times, start_s <= "
                          "end_s", owner=owner)
        out.append((float(a), float(b), str(label)))
    return out


def ignored(ignore, owner: str) -> tuple:
    """``ignore`` as a tuple of class names (a str is one class)."""
    if isinstance(ignore, str):
        return (ignore,)
    try:
        names = tuple(ignore)
    except TypeError:
        raise invalid("ignore", ignore, "a class name or a sequence of them",
                      owner=owner) from None
    if not all(isinstance(c, str) for c in names):
        raise invalid("ignore", ignore, "a class name or a sequence of them", owner=owner)
    return names


def _by_class(labels, refs, preds, ignore) -> dict:
    order = [str(c) for c in getattr(labels, "classes", ())]
    order += [r[2] for r in refs + preds]
    by = {c: ([], []) for c in dict.fromkeys(order) if c not in ignore}
    for side, rows in enumerate((refs, preds)):
        for a, b, c in rows:
            if c not in ignore:
                by[c][side].append((a, b))
    return {c: v for c, v in by.items() if v[0] or v[1]}


def _matched(refs, preds, onset_s, offset_s, fraction) -> int:
    """The largest number of (reference, prediction) pairs that match one to one."""
    if not refs or not preds:
        return 0
    from scipy.optimize import linear_sum_assignment
    r, p = np.asarray(refs), np.asarray(preds)
    cost = np.abs(r[:, None, 0] - p[None, :, 0])
    ok = cost <= onset_s + _EPS
    if offset_s is not None:
        d_off = np.abs(r[:, None, 1] - p[None, :, 1])
        ok &= d_off <= np.maximum(offset_s, fraction * (r[:, 1] - r[:, 0]))[:, None] + _EPS
        cost = cost + d_off
    if not ok.any():
        return 0
    # An invalid pair costs more than all valid pairs together, so the assignment of least
    # cost has the most valid pairs and, among those, the closest boundaries.
    big = 1.0 + float(cost[ok].sum())
    rows, cols = linear_sum_assignment(np.where(ok, cost, big))
    return int(ok[rows, cols].sum())


def event_scores(events, labels, *, onset_tolerance_s: float = 0.5,
                 offset_tolerance_s: float | None = None, offset_fraction: float = 0.5,
                 ignore=()) -> EventScores:
    """Event-based precision, recall and F1 of predicted events against reference labels.

    Parameters
    ----------
    events : AppRun or list of eml.post.Event or of (start_s, end_s, label)
    labels : LabelSet or list of (start_s, end_s, label)
        The reference events of the same recording (times from its first sample).
    onset_tolerance_s : float
        A prediction may start this far from the reference (sed_eval's ``t_collar``).
    offset_tolerance_s : float, optional
        None (default): ends are not compared. Else a prediction must also end within
        ``max(offset_tolerance_s, offset_fraction * reference length)`` of the reference.
    offset_fraction : float
        See ``offset_tolerance_s`` (sed_eval's ``percentage_of_length``).
    ignore : str or sequence of str
        Classes left out on both sides (e.g. a background class).

    Returns
    -------
    EventScores

    Raises
    ------
    InputError
        Intervals that are not (start_s <= end_s, label); negative tolerances.

    Examples
    --------
    >>> s = event_scores([(0.1, 2.0, "a"), (5.0, 6.0, "a")], [(0.0, 2.0, "a")])
    >>> (s.tp, s.fp, s.fn)
    (1, 1, 0)
    """
    owner = "eml.post.event_scores"
    number_in("onset_tolerance_s", onset_tolerance_s, 0, owner=owner)
    if offset_tolerance_s is not None:
        number_in("offset_tolerance_s", offset_tolerance_s, 0, owner=owner,
                  remedy="Pass None to leave ends out of the match")
    number_in("offset_fraction", offset_fraction, 0, owner=owner)
    skip = ignored(ignore, owner)
    refs, preds = intervals(labels, "labels", owner), intervals(events, "events", owner)
    counts = {}
    for cls, (r, p) in _by_class(labels, refs, preds, skip).items():
        tp = _matched(r, p, onset_tolerance_s, offset_tolerance_s, offset_fraction)
        counts[cls] = (tp, len(p) - tp, len(r) - tp)
    criterion = f"events, onset ±{onset_tolerance_s:g} s"
    if offset_tolerance_s is not None:
        criterion += (f", offset ±max({offset_tolerance_s:g} s, {offset_fraction:.0%} of "
                      "length)")
    return EventScores(counts, criterion)


def segment_scores(events, labels, *, segment_s: float = 1.0, ignore=(),
                   duration_s: float | None = None) -> EventScores:
    """Segment-based scores: the timeline cut into ``segment_s`` segments, a class active in a
    segment when an interval of it overlaps the segment; per segment and class, active in
    both is a true positive, only in ``events`` a false positive, only in ``labels`` a false
    negative. ``duration_s`` (default: the last end on either side) sets the segments
    counted. Parameters otherwise as :func:`event_scores`."""
    owner = "eml.post.segment_scores"
    number_in("segment_s", segment_s, 0, owner=owner, low_open=True)
    if duration_s is not None:
        number_in("duration_s", duration_s, 0, owner=owner)
    skip = ignored(ignore, owner)
    refs, preds = intervals(labels, "labels", owner), intervals(events, "events", owner)
    end = max([duration_s or 0.0] + [b for _, b, _ in refs + preds])
    n = max(1, math.ceil(end / segment_s - _EPS))
    counts = {}
    for cls, sides in _by_class(labels, refs, preds, skip).items():
        active = np.zeros((2, n), dtype=bool)
        for side, rows in enumerate(sides):
            for a, b in rows:
                if b > a:
                    i0 = math.floor(a / segment_s + _EPS)
                    active[side, i0:max(i0 + 1, math.ceil(b / segment_s - _EPS))] = True
        ref, pred = active
        counts[cls] = (int(np.sum(ref & pred)), int(np.sum(pred & ~ref)),
                       int(np.sum(ref & ~pred)))
    return EventScores(counts, f"{segment_s:g} s segments")
