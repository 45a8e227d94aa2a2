"""Post-processing of per-window predictions into events, the same on the host and the device.

Stages chain with ``|``::

    post = eml.post.Smooth(votes=5) | eml.post.MinDuration(1.0) | eml.post.MergeGaps(0.5)

The host runs the device's own source (``device_src/emlab_post.py``, integers only), so the
events :meth:`DeviceApp.simulate <emlearn_lab.app.DeviceApp.simulate>` predicts are the events
the board produces, bit for bit. Lengths are given in seconds and rounded to whole hops.
"""
from __future__ import annotations

import array
import math
from dataclasses import dataclass

import numpy as np

from ..device_src import emlab_post as _dev
from ..exceptions import InputError
from ..validate import int_in, invalid, number_in, one_of

__all__ = ["Smooth", "Hysteresis", "Ignore", "MinDuration", "MergeGaps", "Chain", "Event",
           "run", "score_scale", "tune", "event_scores", "segment_scores"]


@dataclass(frozen=True)
class Event:
    """One event: ``label`` from ``start_s`` to ``end_s`` (seconds from the first sample).

    Each window stands for the ``hop_s`` around its centre, so the events of consecutive
    windows tile the timeline: an event of windows ``a..b`` runs from the centre of window
    ``a`` minus half a hop to the centre of window ``b`` plus half a hop. ``first_window`` and
    ``end_window`` (exclusive) are the window indices the device counted."""

    start_s: float
    end_s: float
    label: str
    first_window: int
    end_window: int

    @classmethod
    def of_windows(cls, first: int, end: int, label: str, hop_s: float,
                   window_s: float) -> Event:
        """The event of windows ``first`` to ``end`` (exclusive), placed on the timeline."""
        centre = (window_s - hop_s) / 2
        return cls(first * hop_s + centre, end * hop_s + centre, label, first, end)

    @property
    def key(self) -> tuple:
        """(first_window, end_window, label): what the board and the host must agree on."""
        return self.first_window, self.end_window, self.label


class _Stage:
    owner = "eml.post"

    def __or__(self, other) -> Chain:
        return Chain((self,)) | other

    def _spec(self, ctx) -> list:  # pragma: no cover - every stage defines it
        raise NotImplementedError


class Chain(_Stage):
    """Stages in the order they run; made with ``|``."""

    def __init__(self, stages=()):
        self.stages = tuple(stages)

    def __or__(self, other) -> Chain:
        if isinstance(other, Chain):
            return Chain(self.stages + other.stages)
        if not isinstance(other, _Stage):
            raise InputError(f"post-processing chains eml.post stages with |, got "
                             f"{type(other).__name__}. Use eml.post.Smooth, Hysteresis, Ignore, "
                             "MinDuration or MergeGaps")
        return Chain(self.stages + (other,))

    def spec(self, model, window_s: float, hop_s: float) -> list:
        """The device's spec (a JSON-able list of stages) for a model and a window hop."""
        names = [s.kind for s in self.stages]
        for kind in set(names):
            if names.count(kind) > 1:
                raise InputError(f"eml.post.{type(self.stages[names.index(kind)]).__name__} "
                                 "appears twice in the post-processing chain: keep one")
        events_at = [i for i, n in enumerate(names) if n in _dev.EVENT_STAGES]
        per_window = [i for i, n in enumerate(names) if n in _dev.PER_WINDOW]
        if events_at and per_window and max(per_window) > min(events_at):
            raise InputError("post-processing runs per-window stages (Smooth, Hysteresis, "
                             "Ignore) before event stages (MinDuration, MergeGaps): put "
                             f"{type(self.stages[max(per_window)]).__name__} earlier in the chain")
        ctx = {"model": model, "hop_s": hop_s, "window_s": window_s, "sum_n": 1}
        return [s._spec(ctx) for s in self.stages]

    def __repr__(self) -> str:
        return " | ".join(repr(s) for s in self.stages) if self.stages else "Chain()"


def _class_index(model, label, owner: str) -> int:
    if model.kind != "classifier":
        if label not in (None, 0):
            raise invalid("cls", label, "None for a regressor (its one output)", owner=owner)
        return 0
    classes = [c.item() if hasattr(c, "item") else c for c in model.classes_]
    if label is None:
        raise invalid("cls", label, f"one of the model's classes {classes}", owner=owner)
    if label not in classes:
        raise invalid("cls", label, f"one of the model's classes {classes}", owner=owner)
    return classes.index(label)


def _one_score_per_class(model, what: str) -> None:
    if model.kind == "classifier" and model.n_outputs != len(model.classes_):
        raise InputError(f"{what} reads one score per class; this {len(model.classes_)}-class "
                         f"model has {model.n_outputs} (one sigmoid output): use "
                         "Smooth(how='majority')")


def score_scale(model) -> float:
    """Fixed-point score units (what emlab_post compares) per unit of a threshold.

    Trees: thresholds are probabilities (classifiers) or values (regressors), the scores'
    integer sums over ``score_denominator``. Networks: thresholds are in the units of the
    last layer's output (logits of a classifier, the value of a regressor), the float32
    scores as 16-bit fixed point or the int8 accumulator over ``2**output_shift``."""
    if hasattr(model, "score_denominator"):
        if getattr(model, "leaf_bits", None) is not None and model.kind == "classifier":
            raise InputError("Hysteresis thresholds are probabilities, which a forest with "
                             "learned integer leaves (leaf_bits) does not have as a fixed "
                             "scale: use Smooth instead, or compress without leaf_bits")
        return float(model.score_denominator)
    int8 = getattr(model, "int8", None)
    if int8 is not None:
        return float(2 ** int8.output_shift)
    if np.dtype(model.score_dtype).kind == "f":
        return float(2 ** _dev.FRACTION_BITS)
    raise InputError(f"{type(model).__name__} has no known score scale for Hysteresis "
                     "thresholds: use Smooth instead")


class Smooth(_Stage):
    """Vote over the last ``votes`` windows: ``how="majority"`` (the most frequent class; ties
    to the first class; until ``votes`` windows have passed, the missing ones vote "no event")
    or ``"mean"`` (the class with the largest score summed over the windows, exact integer
    sums; a later Hysteresis compares the mean score)."""

    kind = "smooth"

    def __init__(self, votes: int = 5, how: str = "majority"):
        self.votes = int_in("votes", votes, 1, _dev.MAX_WINDOWS, owner="eml.post.Smooth")
        self.how = one_of("how", how, ("majority", "mean"), owner="eml.post.Smooth")

    def _spec(self, ctx) -> list:
        if self.how == "mean":
            _one_score_per_class(ctx["model"], "Smooth(how='mean')")
            ctx["sum_n"] = self.votes
            return ["smooth", self.votes, "sum"]
        if ctx["model"].kind != "classifier":
            raise InputError("Smooth(how='majority') votes over classes; a regressor has none: "
                             "use Smooth(how='mean') with Hysteresis")
        return ["smooth", self.votes, "majority"]

    def __repr__(self) -> str:
        return f"Smooth(votes={self.votes}, how={self.how!r})"


class Hysteresis(_Stage):
    """An event of class ``cls`` while its score stays high: on when it reaches ``on``, off
    when it falls below ``off`` (``off <= on``). Thresholds are probabilities for tree
    classifiers and values for regressors (see :func:`score_scale`); every other window is
    "no event"."""

    kind = "hysteresis"

    def __init__(self, on: float, off: float | None = None, cls=None):
        owner = "eml.post.Hysteresis"
        self.on = number_in("on", on, -1e9, 1e9, owner=owner)
        self.off = on if off is None else number_in("off", off, -1e9, on, owner=owner,
                                                    remedy="off must not exceed on")
        self.cls = cls

    def _spec(self, ctx) -> list:
        model = ctx["model"]
        _one_score_per_class(model, "Hysteresis")
        k = _class_index(model, self.cls, "eml.post.Hysteresis")
        n = ctx["sum_n"]
        scale = score_scale(model) * n
        # score >= on  <=>  integer score >= ceil(on * scale). Float scores enter clamped to
        # +-LIMIT (and summed over n windows), so their bounds are clamped the same way.
        limit = _dev.LIMIT * n if np.dtype(model.score_dtype).kind == "f" else None
        on, off = (self._bound(t * scale, limit) for t in (self.on, self.off))
        return ["hysteresis", k, on, off]

    @staticmethod
    def _bound(value: float, limit: int | None) -> int:
        v = math.ceil(value)
        return v if limit is None else min(max(v, -limit), limit)

    def __repr__(self) -> str:
        return f"Hysteresis(on={self.on!r}, off={self.off!r}, cls={self.cls!r})"


class Ignore(_Stage):
    """These classes make no events (e.g. ``Ignore("idle")``)."""

    kind = "ignore"

    def __init__(self, *classes):
        if not classes:
            raise invalid("classes", classes, "at least one class", owner="eml.post.Ignore")
        self.classes = classes

    def _spec(self, ctx) -> list:
        return ["ignore", sorted({_class_index(ctx["model"], c, "eml.post.Ignore")
                                  for c in self.classes})]

    def __repr__(self) -> str:
        return f"Ignore({', '.join(map(repr, self.classes))})"


def _hops(seconds: float, hop_s: float, low: int) -> int:
    return max(low, min(_dev.MAX_WINDOWS, round(seconds / hop_s)))


class MinDuration(_Stage):
    """An event starts only once its class has held for ``seconds`` (whole hops, at least
    one window); its start is dated back to the first of those windows."""

    kind = "min_duration"

    def __init__(self, seconds: float):
        self.seconds = number_in("seconds", seconds, 0, 1e6, owner="eml.post.MinDuration")

    def _spec(self, ctx) -> list:
        return ["min_duration", _hops(self.seconds, ctx["hop_s"], 1)]

    def __repr__(self) -> str:
        return f"MinDuration({self.seconds!r})"


class MergeGaps(_Stage):
    """An event goes on through gaps of up to ``seconds`` (whole hops) when its class comes
    back after them. A gap is windows of no event or of another class too short to become an
    event (see MinDuration); an event of another class ends it: events never overlap."""

    kind = "merge_gaps"

    def __init__(self, seconds: float):
        self.seconds = number_in("seconds", seconds, 0, 1e6, owner="eml.post.MergeGaps")

    def _spec(self, ctx) -> list:
        return ["merge_gaps", _hops(self.seconds, ctx["hop_s"], 0)]

    def __repr__(self) -> str:
        return f"MergeGaps({self.seconds!r})"


def as_chain(post) -> Chain:
    if post is None:
        return Chain()
    if isinstance(post, Chain):
        return post
    if isinstance(post, _Stage):
        return Chain((post,))
    raise invalid("post", post, "eml.post stages joined with | (or None)", owner="eml.DeviceApp")


def run(spec: list, n_outputs: int, index, scores, n_classes: int = 0) -> tuple:
    """Run the device's post-processing over per-window predictions on the host.

    ``index``: the model's decision per window (class index; regressors 0), ``scores``:
    shape (n_windows, n_outputs), int32 or float32 as the device writes them. Returns
    (decisions after the per-window stages, list of (first_window, end_window, class))."""
    scores = np.asarray(scores)
    typecode = "f" if scores.dtype.kind == "f" else "i"
    dtype = np.dtype("<f4") if typecode == "f" else np.dtype("<i4")
    events: list = []
    post = _dev.Post(spec, n_outputs, typecode == "f", lambda start, cls: None,
                     lambda start, end, cls: events.append((start, end, cls)), n_classes)
    decisions = np.empty(len(scores), dtype=np.int64)
    for i in range(len(scores)):
        row = array.array(typecode, np.ascontiguousarray(scores[i], dtype=dtype).tobytes())
        decisions[i] = post.push(i, int(index[i]), row)
    post.finish()
    return decisions, events


# Scoring and tuning live in their own modules (metrics, tune), which import this one; they are
# reached from here through functions that import them on first call, so no import cycle.
def event_scores(events, labels, **options):
    """Event-based precision, recall and F1: see :func:`emlearn_lab.app.metrics.event_scores`."""
    from .metrics import event_scores as scores
    return scores(events, labels, **options)


def segment_scores(events, labels, **options):
    """Segment-based scores: see :func:`emlearn_lab.app.metrics.segment_scores`."""
    from .metrics import segment_scores as scores
    return scores(events, labels, **options)


def tune(app, recordings, labels, metric: str = "event_f1", grid=None, **options):
    """The post-processing chain that scores best on labelled recordings: see
    :func:`emlearn_lab.app.tune.tune`."""
    from .tune import tune as search
    return search(app, recordings, labels, metric=metric, grid=grid, **options)
