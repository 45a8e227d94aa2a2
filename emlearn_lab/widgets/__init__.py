"""Notebook widgets. ``anywidget`` is imported when a widget is made, not with emlearn_lab."""
from __future__ import annotations

import os

__all__ = ["label", "live"]


def label(recording, classes=None, labels=None, *, overlap: str = "forbid",
          check: str = "error", video=None, video_offset_s: float = 0.0):
    """Open the labelling widget on a recording.

    Parameters
    ----------
    recording : Recording or path
        What to label; a path is read with :func:`emlearn_lab.load_recording`.
    classes : sequence of str, optional
        The label names offered in the picker (number keys 1–9 pick them). Labels already in
        the file are added to the picker.
    labels : path or LabelSet, optional
        A path: the label file (``.csv`` native, ``.txt`` Audacity, ``.json`` Label Studio),
        read if it exists and rewritten atomically on every change, so a dying kernel loses
        nothing. A LabelSet: edited in place (saved only if it has a path). None: in memory.
    overlap : {"forbid", "allow"}
        Whether regions may overlap (sound events may; activities usually not).
    check : {"error", "warn", "ignore"}
        What to do when the label file was made for another recording.
    video : path, optional
        A video of the session (``.webm``; ``.mp4`` or ``.ogv`` where the browser has the codec)
        shown beside the plot: the playhead moves the video, the playing video moves the
        playhead. ``w.video = path`` shows or replaces one later.
    video_offset_s : float
        Video time minus recording time (2.5: the recording's 0 s is the video's 2.5 s). Or
        align one event in the view (key V) or with ``w.align_video(video_s, signal_s)``.

    Returns
    -------
    LabelWidget
        Display it (last expression of a cell). ``w.labels`` is the LabelSet, synced both
        ways with the view.

    Raises
    ------
    LabelFileMismatchError
        The label file records another recording's length, rate or content hash.
    LabelError
        The file holds intervals outside the recording or labels not in ``classes``.
    InputError
        The video file is missing or of a type browsers do not play.

    Examples
    --------
    >>> import emlearn_lab as eml                                          # doctest: +SKIP
    >>> rec = eml.load_recording("walk.csv")                               # doctest: +SKIP
    >>> w = eml.label(rec, classes=["walk", "run", "idle"], labels="walk.labels.csv")
    >>> w                                                                  # doctest: +SKIP
    """
    from ..labels import LabelSet
    from ..recordings.load import load_recording
    from ..recordings.recording import Recording
    from .label_widget import LabelWidget

    rec = recording if isinstance(recording, Recording) else load_recording(recording)
    if isinstance(labels, LabelSet):
        labelset = labels
    elif labels is None:
        labelset = LabelSet(classes=classes, recording=rec, overlap=overlap)
    elif isinstance(labels, (str, os.PathLike)):
        labelset = LabelSet.open(labels, recording=rec, classes=classes, overlap=overlap,
                                 check=check)
    else:
        raise TypeError(f"labels must be a path, a LabelSet or None, got "
                        f"{type(labels).__name__}")
    if not labelset.classes and not classes:
        from ..exceptions import LabelError
        raise LabelError("no classes to label with: pass classes=['walk', 'run', ...] (the "
                         "names offered by the picker and keys 1-9)")
    return LabelWidget(rec, labelset, classes=classes or (), video=video,
                       video_offset_s=video_offset_s)


def live(dev, models, X=None, *, autostart: bool = True, **kwargs):
    """A live comparison of host and device predictions, drawn as it runs.

    Parameters
    ----------
    dev : Device
    models : dict of {str: model}
        Label -> fitted estimator, TreeModel / NetModel or feature Pipeline; models not yet
        on the device under that label are deployed (without verification: the comparison
        verifies every item).
    X : array-like, optional
        Rows (windows for pipelines). Or pass ``recording=``, ``sensor_seconds=``.
    autostart : bool
        Start streaming at once (else press start, or ``w.start()``).
    **kwargs
        ``recording``, ``window_s``, ``hop_s``, ``realtime``, ``sensor_seconds``, ``batch``,
        ``loop``: see :class:`emlearn_lab.live.LiveComparison`.

    Returns
    -------
    LiveWidget
        Display it (last expression of a cell). ``w.comparison`` is the LiveComparison:
        ``w.comparison.results``, ``.summary()``, ``.wait()``.

    Raises
    ------
    InputError, NotFittedError, UnsupportedModelError, DeviceError
        As LiveComparison, before the widget is made.

    Examples
    --------
    >>> from emlearn_lab.live import live                                   # doctest: +SKIP
    >>> w = live(dev, {"full": forest, "compressed": eml.compress(forest, leaves_per_class=4)},
    ...          X_test)                                                     # doctest: +SKIP
    >>> w                                                                    # doctest: +SKIP
    """
    from ..live.engine import LiveComparison
    from .live_widget import LiveWidget

    widget = LiveWidget(LiveComparison(dev, models, X, **kwargs))
    if autostart:
        widget.start()
    return widget
