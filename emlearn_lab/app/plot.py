"""An app's events on a timeline, under the reference labels and the signal."""
from __future__ import annotations

import numpy as np

from .._figures import _png
from ..exceptions import InputError
from ..validate import invalid
from .metrics import intervals

__all__ = ["plot_events"]

_OWNER = "eml.app.plot_events"
# matplotlib's tab10, the label widget's palette: a class has the same colour in both
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")
_MAX_POINTS = 4000      # a longer signal is drawn as its min/max envelope over blocks


def _figure(figsize: tuple, rows: int):
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False,
                        height_ratios=[2] * (rows - 1) + [1])[:, 0]
    fig._repr_png_ = lambda: _png(fig)
    for ax in axes:
        ax._repr_png_ = lambda: _png(fig)
    return axes


def _signal(ax, recording) -> None:
    x = recording.as_float()
    t = recording.times_s
    step = -(-len(x) // _MAX_POINTS)
    for c, name in enumerate(recording.channels):
        if step <= 1:
            ax.plot(t, x[:, c], lw=0.8, label=name)
            continue
        n = len(x) // step * step
        blocks = x[:n, c].reshape(-1, step)
        ax.fill_between(t[:n:step], blocks.min(axis=1), blocks.max(axis=1), lw=0, label=name)
    if recording.n_channels > 1:
        ax.legend(loc="upper right", fontsize="small", ncol=min(recording.n_channels, 6))
    unit = recording.units[0] if len(set(recording.units)) == 1 else ""
    ax.set_ylabel(unit or "signal")


def plot_events(run_or_events, labels=None, recording=None, ax=None):
    """Predicted events (and reference labels) as coloured bars on a timeline.

    One row of bars for the predictions and, when ``labels`` are given, one above it for the
    labels; a class has one colour (the label widget's) in both. With a ``recording``, its
    signal is drawn above on a shared time axis.

    Parameters
    ----------
    run_or_events : AppRun or list of eml.post.Event or of (start_s, end_s, label)
    labels : LabelSet or list of (start_s, end_s, label), optional
    recording : Recording, optional
        The recording the events were predicted from (times from its first sample).
    ax : matplotlib Axes, optional
        Where to draw the bars (not with ``recording``, which needs axes of its own).
        Default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes of the bars (``ax.figure`` is the figure).

    Raises
    ------
    InputError
        Intervals that are not (start_s <= end_s, label); ``ax`` with ``recording``.
    """
    from ..recordings.recording import Recording
    events = intervals(run_or_events, "run_or_events", _OWNER)
    refs = None if labels is None else intervals(labels, "labels", _OWNER)
    if recording is not None and not isinstance(recording, Recording):
        raise invalid("recording", recording, "an eml.Recording or None", owner=_OWNER)
    if recording is not None and ax is not None:
        raise InputError(f"{_OWNER}: pass ax=None with a recording (the signal is drawn on "
                         "axes of its own above the events), or leave the recording out")
    # the LabelSet's class order first: the order the label widget colours classes by
    order = [str(c) for c in getattr(labels, "classes", ())]
    order += [str(c) for c in getattr(run_or_events, "labels", ())]
    order += [c for _, _, c in (refs or []) + events]
    classes = list(dict.fromkeys(order))
    colour = {c: _PALETTE[i % len(_PALETTE)] for i, c in enumerate(classes)}
    if ax is None:
        axes = _figure((10, 3.5 if recording is not None else 1.6),
                       2 if recording is not None else 1)
        ax = axes[-1]
        if recording is not None:
            _signal(axes[0], recording)
    rows = [("predicted", events)] + ([("labels", refs)] if refs is not None else [])
    for y, (_, items) in enumerate(rows):
        if items:
            starts = np.array([a for a, _, _ in items])
            ax.barh(y, np.array([b for _, b, _ in items]) - starts, left=starts, height=0.7,
                    color=[colour[c] for _, _, c in items], edgecolor="none")
    ax.set_yticks(range(len(rows)), [name for name, _ in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("time (s)")
    if classes:
        from matplotlib.patches import Patch
        ax.legend(handles=[Patch(color=colour[c], label=c) for c in classes],
                  loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)
    return ax
