"""Choose an app's post-processing on labelled recordings: every chain of a grid is run over
the model's outputs (computed once per recording) and scored against the labels.

The chains run the device's own post-processing (``eml.post.run``), so the events scored are
the events the installed app would produce over those recordings.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ..exceptions import InputError
from ..recordings.recording import Recording
from ..validate import invalid, number_in, one_of
from . import post as _post
from .device_app import DeviceApp
from .metrics import EventScores, event_scores, ignored, intervals, segment_scores

__all__ = ["Tuning", "tune", "default_grid"]

_OWNER = "eml.post.tune"
METRICS = ("event_f1", "segment_f1")


@dataclass
class Tuning:
    """The result of :func:`tune`.

    Attributes
    ----------
    best : eml.post.Chain
        The chain with the best score (ties: the one with fewer stages, then the earlier in
        the grid).
    best_score, baseline_score : float
        The metric with ``best`` and with no post-processing, over every recording.
    best_scores, baseline_scores : EventScores
        Their counts per class.
    table : pandas.DataFrame
        Every setting (``post``, as its repr), its score and counts, best first.
    chains : list of eml.post.Chain
        The settings in the order of ``table``'s rows.
    metric : str
    """

    best: _post.Chain
    best_score: float
    baseline_score: float
    best_scores: EventScores
    baseline_scores: EventScores
    table: object
    chains: list
    metric: str

    def apply(self, app: DeviceApp) -> DeviceApp:
        """A copy of ``app`` with the best post-processing."""
        if not isinstance(app, DeviceApp):
            raise invalid("app", app, "an eml.DeviceApp", owner="Tuning.apply")
        return app.with_post(self.best)

    def __repr__(self) -> str:
        return (f"Tuning({self.metric} {self.baseline_score:.3f} without post-processing -> "
                f"{self.best_score:.3f} with {self.best!r}; {len(self.chains)} settings)")

    def _repr_html_(self) -> str:
        import html
        return (f"<p>{html.escape(repr(self))}</p>"
                + self.table.head(10).to_html(float_format=lambda v: f"{v:.3f}"))


def _mean_is_meaningful(model) -> bool:
    """Summed scores choose a class only when there is one score per class."""
    return (model.kind == "classifier" and model.n_outputs >= 2
            and model.n_outputs == len(model.classes_))


def default_grid(app: DeviceApp, ignore=()) -> list:
    """The chains :func:`tune` tries by default: Smooth (none, or majority votes over 3, 5 or
    9 windows, and summed scores over as many when the model has one score per class) x
    MinDuration (none, 0.5, 1, 2 s) x MergeGaps (none, 0.5, 1 s); with ``Ignore(*ignore)``
    after the smoothing when classes are ignored. Simplest first."""
    if app.model.kind != "classifier":
        raise InputError("the default post-processing grid is for classifiers (Smooth votes "
                         "over classes): pass grid=[...] of chains with eml.post.Hysteresis "
                         "for a regressor")
    hows = ("majority", "mean") if _mean_is_meaningful(app.model) else ("majority",)
    smooth = [None] + [_post.Smooth(v, how) for how in hows for v in (3, 5, 9)]
    keep = [_post.Ignore(*ignore)] if ignore else []
    grid = []
    for gap in (None, 0.5, 1.0):
        for min_s in (None, 0.5, 1.0, 2.0):
            for s in smooth:
                stages = ([s] if s else []) + keep
                stages += [_post.MinDuration(min_s)] if min_s else []
                stages += [_post.MergeGaps(gap)] if gap else []
                grid.append(_post.Chain(stages))
    return grid


def _paired(recordings, labels) -> list:
    if isinstance(recordings, Recording):
        recordings, labels = [recordings], [labels]
    elif not isinstance(recordings, (list, tuple)) or not recordings:
        raise invalid("recordings", recordings, "an eml.Recording or a non-empty list of them",
                      owner=_OWNER)
    elif not isinstance(labels, (list, tuple)) or len(labels) != len(recordings):
        got = (f"{len(labels)} labelling{'s' * (len(labels) != 1)}"
               if isinstance(labels, (list, tuple)) else f"a {type(labels).__name__}")
        raise InputError(f"{_OWNER} got {len(recordings)} recordings and {got}: pass a list "
                         "with one LabelSet (or list of (start_s, end_s, label)) per recording")
    for i, rec in enumerate(recordings):
        if not isinstance(rec, Recording):
            raise invalid(f"recordings[{i}]", rec, "an eml.Recording", owner=_OWNER)
        intervals(labels[i], f"labels[{i}]" if len(labels) > 1 else "labels", _OWNER)
    return list(zip(recordings, labels))


def _chains(grid) -> list:
    if not isinstance(grid, (list, tuple)) or not grid:
        raise invalid("grid", grid, "a non-empty list of post-processing chains (eml.post "
                      "stages joined with |)", owner=_OWNER)
    out = []
    for i, item in enumerate(grid):
        if item is not None and not isinstance(item, _post._Stage):
            raise invalid(f"grid[{i}]", item, "eml.post stages joined with | (or None)",
                          owner=_OWNER)
        out.append(_post.as_chain(item))
    return out


def tune(app: DeviceApp, recordings, labels, *, metric: str = "event_f1", grid=None,
         ignore=(), onset_tolerance_s: float = 0.5, offset_tolerance_s: float | None = None,
         offset_fraction: float = 0.5, segment_s: float = 1.0) -> Tuning:
    """Search the post-processing chain that scores best on labelled long recordings.

    The model runs once per recording; each chain then runs over its outputs and its events
    are scored against the labels, the counts summed over recordings (micro-averaged).

    Parameters
    ----------
    app : eml.DeviceApp
    recordings : Recording or list of Recording
    labels : LabelSet or list of (start_s, end_s, label), or a list of those
        One per recording, times from its first sample.
    metric : {"event_f1", "segment_f1"}
        F1 of :func:`~emlearn_lab.app.metrics.event_scores` (with the tolerances below) or
        of :func:`~emlearn_lab.app.metrics.segment_scores` (``segment_s`` segments).
    grid : list of eml.post chains, optional
        The settings to try. Default: :func:`default_grid`.
    ignore : str or sequence of str
        Background classes: left out of the scores, and the default grid's chains
        ``Ignore`` them so the app makes no events of them.
    onset_tolerance_s, offset_tolerance_s, offset_fraction : float
        As :func:`~emlearn_lab.app.metrics.event_scores`.

    Returns
    -------
    Tuning

    Raises
    ------
    InputError
        Bad arguments, a recording the app cannot take, a chain the model cannot run.

    Examples
    --------
    >>> tuning = eml.post.tune(app, recording, labels, ignore="background")  # doctest: +SKIP
    >>> app = tuning.apply(app)                                                # doctest: +SKIP
    """
    if not isinstance(app, DeviceApp):
        raise invalid("app", app, "an eml.DeviceApp", owner=_OWNER)
    one_of("metric", metric, METRICS, owner=_OWNER)
    skip = ignored(ignore, _OWNER)
    for c in skip:
        one_of("ignore", c, app.labels, owner=_OWNER, remedy="Ignore classes of the model")
    number_in("segment_s", segment_s, 0, owner=_OWNER, low_open=True)
    pairs = _paired(recordings, labels)
    chains = default_grid(app, skip) if grid is None else _chains(grid)

    def score(events, labs, rec) -> EventScores:
        if metric == "segment_f1":
            return segment_scores(events, labs, segment_s=segment_s, ignore=skip,
                                  duration_s=rec.duration_s)
        return event_scores(events, labs, onset_tolerance_s=onset_tolerance_s,
                            offset_tolerance_s=offset_tolerance_s,
                            offset_fraction=offset_fraction, ignore=skip)

    score([], pairs[0][1], pairs[0][0])      # bad tolerances fail before the model runs
    outputs = [app.outputs(rec) for rec, _ in pairs]
    found = {}              # device spec -> scores: chains that round to one spec run once

    def evaluate(i, chain) -> EventScores:
        try:
            key = json.dumps([chain.spec(app.model, w, h) for _, _, h, w in outputs])
        except InputError as e:
            raise InputError(f"grid[{i}] ({chain!r}): {e}") from None
        if key not in found:
            total = None
            for (rec, labs), (s, index, hop_s, window_s) in zip(pairs, outputs):
                run = app.run_post(s, index, hop_s, window_s, post=chain)
                one = score(run.events, labs, rec)
                total = one if total is None else total + one
            found[key] = total
        return found[key]

    results = [evaluate(i, c) for i, c in enumerate(chains)]
    baseline = evaluate(-1, _post.Chain())
    order = sorted(range(len(chains)), key=lambda i: (
        -results[i].f1 if not math.isnan(results[i].f1) else math.inf,
        len(chains[i].stages), i))
    return Tuning(chains[order[0]], results[order[0]].f1, baseline.f1, results[order[0]],
                  baseline, _table(chains, results, order, metric), [chains[i] for i in order],
                  metric)


def _table(chains, results, order, metric):
    import pandas as pd
    return pd.DataFrame([{"post": repr(chains[i]), metric: results[i].f1,
                          "precision": results[i].precision, "recall": results[i].recall,
                          "tp": results[i].tp, "fp": results[i].fp, "fn": results[i].fn}
                         for i in order])
