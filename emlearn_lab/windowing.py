"""Cut labelled recordings into fixed-length windows: the ``(X, y, groups)`` a classifier learns
from, one label per window and the recording each window came from."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .exceptions import InputError
from .labels.labelset import LabelSet
from .recordings.recording import Recording
from .validate import invalid, number_in, one_of

__all__ = ["windows", "Windows"]

_RULES = ("majority", "center", "any")
_OWNER = "eml.windows"


@dataclass(frozen=True, eq=False)
class Windows:
    """Fixed-length windows cut from one or more recordings, with a label each.

    Made by :func:`windows`. ``X[i]`` is ``window_s`` seconds of every selected channel,
    ``y[i]`` its label and ``groups[i]`` the index of the recording it came from, so that
    train/test splits can keep whole recordings apart (windows of one recording overlap and
    are alike: splitting them at random leaks the test set into training).

    Attributes
    ----------
    X : numpy.ndarray, shape (n_windows, n_samples_per_window, n_channels)
        Integer samples keep their dtype (int16 audio stays int16); float samples are float32.
    y : numpy.ndarray of str
    groups : numpy.ndarray of int
    start_s : numpy.ndarray of float
        Start of each window, seconds after the first sample of its recording.
    samplerate_hz, window_s, hop_s : float
        ``window_s`` and ``hop_s`` are the lengths actually used, whole samples at the rate.
    channels : tuple of str
    classes : tuple of str
        The labels that occur in ``y``, in the LabelSets' class order, then the name given to
        unlabelled windows.
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    start_s: np.ndarray
    samplerate_hz: float
    window_s: float
    hop_s: float
    channels: tuple
    classes: tuple

    @property
    def n_windows(self) -> int:
        return len(self.y)

    def __len__(self) -> int:
        return self.n_windows

    def __getitem__(self, index) -> Windows:
        """The windows selected by a boolean mask, a slice, an index array or one index."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        y = self.y[index]
        present = set(y.tolist())
        return Windows(self.X[index], y, self.groups[index], self.start_s[index],
                       self.samplerate_hz, self.window_s, self.hop_s, self.channels,
                       tuple(c for c in self.classes if c in present))

    def counts(self) -> dict[str, int]:
        """Number of windows per class, in :attr:`classes` order."""
        return {c: int(np.count_nonzero(self.y == c)) for c in self.classes}

    def split(self, test_size: float = 0.25, random_state: int = 0) -> tuple[Windows, Windows]:
        """Split into (train, test) by recording: no recording has windows in both.

        A fraction ``test_size`` up to 0.5 takes one fold of
        :class:`sklearn.model_selection.StratifiedGroupKFold` with ``round(1 / test_size)``
        folds (classes balanced as far as whole groups allow); otherwise
        :class:`sklearn.model_selection.GroupShuffleSplit`; ``test_size`` is a fraction
        (or a number) of recordings, not of windows.

        Raises
        ------
        InputError
            The windows come from fewer than two recordings.
        """
        from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

        n_groups = len(np.unique(self.groups))
        if n_groups < 2:
            raise InputError(f"a split by recording needs windows from at least 2 recordings, "
                             f"got {n_groups}: pass more recordings, or cut one in time with "
                             "Recording.slice_s and pass the parts to eml.windows")
        if isinstance(test_size, float) and 0 < test_size <= 0.5 and len(set(self.y)) > 1:
            # every class in training when whole groups allow it (GroupShuffleSplit can put
            # all the recordings of a class in the test set)
            splitter = StratifiedGroupKFold(n_splits=min(n_groups, round(1 / test_size)),
                                            shuffle=True, random_state=random_state)
            train, test = next(splitter.split(np.zeros(len(self)), self.y, self.groups))
        else:
            splitter = GroupShuffleSplit(n_splits=1, test_size=test_size,
                                         random_state=random_state)
            train, test = next(splitter.split(np.zeros(len(self)), groups=self.groups))
        return self[train], self[test]

    def __repr__(self) -> str:
        n_rec = len(np.unique(self.groups))
        counts = ", ".join(f"{c or repr(c)}={n}" for c, n in self.counts().items())
        return (f"Windows({self.n_windows} windows × {self.X.shape[1]} samples × "
                f"{self.X.shape[2]} channels, {self.window_s:g} s every {self.hop_s:g} s at "
                f"{self.samplerate_hz:g} Hz, in {n_rec} group{'s' * (n_rec != 1)}; "
                f"{counts})")


def windows(recordings, labels=None, *, window_s: float, hop_s: float | None = None,
            label_rule: str = "majority", unlabeled: str = "drop", min_coverage: float = 0.5,
            channels=None, groups: str = "recording") -> Windows:
    """Cut recordings into windows of ``window_s`` seconds, every ``hop_s`` seconds, each with
    the label its samples carry.

    Windows start at the first sample and end at or before the last (the tail shorter than a
    window is dropped; nothing is padded). Lengths are rounded to whole samples.

    Parameters
    ----------
    recordings : Recording or list of Recording
        All at one sample rate, with the same channels (or all holding the ``channels``
        selected by name). Recordings are numbered by their position, as in ``groups``.
    labels : LabelSet or list of LabelSet, optional
        One per recording, paired by position (None in the list: that recording is
        unlabelled). None: every window is kept, with label ``''``.
    window_s : float
        Window length, seconds.
    hop_s : float, optional
        Distance between window starts, seconds (default ``window_s``: no overlap).
    label_rule : {"majority", "center", "any"}
        ``"majority"``: the label of most samples, unlabelled samples competing too (a tie goes
        to the label first in ``LabelSet.classes``, a label before unlabelled); the winning
        class must also cover ``min_coverage`` of the window, else the window is unlabelled.
        ``"center"``: the label of the window's middle sample (``n // 2``).
        ``"any"``: the "event present" rule, for short rare events: the first class, in
        ``LabelSet.classes`` order, that any sample of the window has.
    unlabeled : str
        ``"drop"`` unlabelled windows, ``"keep"`` them as class ``"unlabeled"``, or keep them
        as the class named by any other string (e.g. ``"background"``).
    min_coverage : float
        Fraction of the window, in [0, 1], the majority class must cover.
    channels : sequence of str or int, optional
        Channels to keep, by name or index, in that order (a str is one name).
    groups : {"recording", "interval"}
        What ``Windows.groups`` numbers, i.e. what group-aware splits keep together:
        ``"recording"`` (default), or ``"interval"``: each labelled interval (the one holding
        the window's middle sample; windows outside any interval share one group per
        recording). Use "interval" when one long recording holds many separate sessions,
        each labelled once (the shipped basic_motions sample): windows of one session
        overlap and must not be split between training and test.

    Returns
    -------
    Windows

    Raises
    ------
    InputError
        Bad arguments; a window shorter than one sample or longer than a recording; sample
        rates or channels that differ between recordings; NaN inside a kept window; no
        window left.

    Examples
    --------
    >>> import emlearn_lab as eml
    >>> from emlearn_lab.datasets import load_sample, sample_labels_path
    >>> rec = load_sample("basic_motions")
    >>> labels = eml.LabelSet.load(sample_labels_path("basic_motions"), recording=rec)
    >>> win = eml.windows(rec, labels, window_s=2.0, hop_s=1.0)
    >>> win.X.shape, win.classes
    ((239, 20, 6), ('standing', 'walking', 'running', 'badminton'))
    """
    recs, labelsets = _pair(recordings, labels)
    rate = _common_rate(recs)
    n = _samples(window_s, "window_s", rate)
    hop = n if hop_s is None else _samples(hop_s, "hop_s", rate)
    one_of("label_rule", label_rule, _RULES, owner=_OWNER)
    if not isinstance(unlabeled, str) or not unlabeled:
        raise invalid("unlabeled", unlabeled, "'drop', 'keep' or a class name for unlabelled "
                      "windows", owner=_OWNER)
    number_in("min_coverage", min_coverage, 0, 1, owner=_OWNER)
    one_of("groups", groups, ("recording", "interval"), owner=_OWNER)
    fill = {"drop": None, "keep": "unlabeled"}.get(unlabeled, unlabeled)
    names, picks = _channels(recs, channels)
    for i, rec in enumerate(recs):
        if n > rec.n_samples:
            raise InputError(f"window_s={float(window_s)} s is longer than recording {i} "
                             f"({_name(rec)}{rec.duration_s:g} s): use a shorter window or "
                             "drop that recording")
    parts, order, dtypes, next_group = [], {}, [], 0
    for i, (rec, ls) in enumerate(zip(recs, labelsets)):
        starts = np.arange(0, rec.n_samples - n + 1, hop)
        if ls is None:
            y = np.full(len(starts), fill or "", dtype=object)
        else:
            y = _window_labels(rec, ls, starts, n, label_rule, min_coverage, order)
            if fill is not None:
                y[y == ""] = fill
        keep = np.ones(len(starts), bool) if labels is None or fill else y != ""
        _check_nan(rec, picks[i], starts[keep], n, i)
        if groups == "interval" and ls is not None:
            ids = _interval_ids(rec, ls, starts + n // 2)
            group = np.where(ids < 0, next_group, next_group + 1 + ids)
            next_group += 1 + len(ls)
        else:
            group = np.full(len(starts), i if groups == "recording" else next_group)
            next_group += 1
        parts.append((rec, starts[keep], y[keep], group[keep], keep))
        dtypes.append(rec.data.dtype)
    total = sum(len(p[1]) for p in parts)
    if total == 0:
        coverage = f" of which a class covers min_coverage={min_coverage:g}" * (
            label_rule == "majority")
        raise InputError(f"no windows left: every window was unlabelled (no {window_s:g} s "
                         f"window{coverage}) and unlabeled='drop' removes those. Label more of "
                         "the recordings, use a shorter window, or pass unlabeled='keep'")
    dtype = (np.result_type(*dtypes) if all(d.kind in "iu" for d in dtypes)
             else np.dtype(np.float32))
    X = np.empty((total, n, len(names)), dtype=dtype)
    at = 0
    for i, (rec, _, _, _, keep) in enumerate(parts):
        # windows are a strided view into the samples; each run of kept windows is copied
        # straight into X (fancy indexing or np.take would first copy every window)
        view = np.moveaxis(sliding_window_view(rec.data[:, picks[i]], n, axis=0)[::hop], -1, 1)
        edges = np.diff(np.concatenate([[0], keep.astype(np.int8), [0]]))
        for lo, hi in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            np.copyto(X[at:at + hi - lo], view[lo:hi])
            at += hi - lo
    y = np.concatenate([p[2] for p in parts]).astype(str)
    present = set(y.tolist())
    classes = tuple(c for c in [*order, fill or ""] if c in present)
    group_ids = np.concatenate([p[3] for p in parts]).astype(np.int64)
    if groups == "interval":                  # numbered 0, 1, ... in order of appearance
        group_ids = np.unique(group_ids, return_inverse=True)[1].astype(np.int64)
    return Windows(X, y, group_ids,
                   np.concatenate([p[1] for p in parts]) / rate, rate, n / rate, hop / rate,
                   names, tuple(dict.fromkeys(classes)))


def _name(rec: Recording) -> str:
    return f"{rec.source!r}, " if rec.source else ""


def _pair(recordings, labels):
    if not isinstance(recordings, (Recording, list, tuple)):
        raise InputError(f"recordings must be a Recording or a list of them, got "
                         f"{type(recordings).__name__}; make one with eml.load_recording(path) "
                         "or eml.Recording(data, samplerate_hz)")
    recs = [recordings] if isinstance(recordings, Recording) else list(recordings)
    if not recs:
        raise InputError("no recordings given: pass a Recording or a list of them")
    for i, rec in enumerate(recs):
        if not isinstance(rec, Recording):
            raise InputError(f"recordings[{i}] must be a Recording, got {type(rec).__name__}")
    if labels is None:
        return recs, [None] * len(recs)
    if not isinstance(labels, (LabelSet, list, tuple)):
        raise InputError(f"labels must be a LabelSet or a list of them, got "
                         f"{type(labels).__name__}")
    sets = [labels] if isinstance(labels, LabelSet) else list(labels)
    if len(sets) != len(recs):
        raise InputError(f"{len(sets)} LabelSets for {len(recs)} recordings: pass one "
                         "LabelSet per recording, in the same order (None for an unlabelled "
                         "one)")
    for i, (rec, ls) in enumerate(zip(recs, sets)):
        if ls is not None and not isinstance(ls, LabelSet):
            raise InputError(f"labels[{i}] must be a LabelSet or None, got "
                             f"{type(ls).__name__}")
        info = getattr(ls, "recording_info", None)
        if info is not None and abs(info.duration_s - rec.duration_s) > 1 / rec.samplerate_hz:
            raise InputError(f"labels[{i}] were made for a {info.duration_s:g} s recording but "
                             f"recording {i} ({_name(rec)}{rec.duration_s:g} s) is another "
                             "length: pass the LabelSets in the order of the recordings")
    return recs, sets


def _common_rate(recs) -> float:
    rates = [rec.samplerate_hz for rec in recs]
    if len(set(rates)) > 1:
        listed = ", ".join(f"{i}: {r:g} Hz" for i, r in enumerate(rates))
        raise InputError(f"the recordings have different sample rates ({listed}); windows of "
                         "one length need one rate: resample them to a common rate first")
    return rates[0]


def _samples(seconds, what: str, rate: float) -> int:
    number_in(what, seconds, 0, low_open=True, owner=_OWNER)
    n = round(seconds * rate)
    if n < 1:
        raise InputError(f"{what}={float(seconds)} s is shorter than one sample at {rate:g} Hz "
                         f"({1 / rate:g} s): use {what} >= {1 / rate:g}")
    return n


def _channels(recs, channels):
    first = recs[0].channels
    if channels is None or not all(isinstance(c, str) for c in _as_list(channels)):
        for i, rec in enumerate(recs[1:], 1):
            if rec.n_channels != len(first):
                raise InputError(f"recording {i} ({_name(rec)}{rec.n_channels} channels) has "
                                 f"a different number of channels than recording 0 "
                                 f"({len(first)}): every recording needs the same channels; "
                                 "select common ones by name with channels=[...]")
            if rec.channels != first:
                raise InputError(f"recording {i} has channels {list(rec.channels)} but "
                                 f"recording 0 has {list(first)}: rename them to match "
                                 "(Recording(channels=...)) or select by name with "
                                 "channels=[...]")
    if channels is None:
        return first, [slice(None)] * len(recs)
    wanted = _as_list(channels)
    if not wanted or len(set(wanted)) != len(wanted):
        raise InputError(f"channels must name each channel to keep once, got {channels!r}")
    picks = []
    for i, rec in enumerate(recs):
        idx = []
        for c in wanted:
            if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
                if not 0 <= c < rec.n_channels:
                    raise InputError(f"channel index {c} is out of range: recording {i} has "
                                     f"{rec.n_channels} channels {list(rec.channels)}")
                idx.append(int(c))
            elif c in rec.channels:
                idx.append(rec.channels.index(c))
            else:
                raise InputError(f"no channel {c!r} in recording {i} ({_name(rec)}channels "
                                 f"{list(rec.channels)}): choose among those")
        picks.append(idx)
    return tuple(recs[0].channels[j] for j in picks[0]), picks


def _as_list(channels) -> list:
    return [channels] if isinstance(channels, (str, int, np.integer)) else list(channels)


def _window_labels(rec, ls, starts, n, rule, min_coverage, order) -> np.ndarray:
    """One label per window ('' = unlabelled); adds this set's classes to ``order``."""
    per_sample = ls.at(rec.times_s)
    used = {lab.label for lab in ls}
    ranked = list(ls.classes) + sorted(used - set(ls.classes))
    order.update(dict.fromkeys(ranked))
    # code k < len(ranked) is ranked[k]; unlabelled is last, so argmax ties favour classes
    names = np.array(ranked + [""], dtype=object)
    codes = np.full(len(per_sample), len(ranked), dtype=np.intp)
    for k, c in enumerate(ranked):
        codes[per_sample == c] = k
    if rule == "center":
        return names[codes[starts + n // 2]]
    # per-class running counts: samples of class k in a window is a difference of two sums
    counts = np.empty((len(starts), len(names)), dtype=np.int64)
    for k in range(len(names)):
        cum = np.concatenate([[0], np.cumsum(codes == k, dtype=np.int64)])
        counts[:, k] = cum[starts + n] - cum[starts]
    if rule == "any":
        has = counts[:, :-1] > 0
        first = np.where(has.any(axis=1), has.argmax(axis=1), len(ranked))
        return names[first]
    best = counts.argmax(axis=1)
    weak = counts[np.arange(len(starts)), best] < min_coverage * n
    return names[np.where(weak, len(ranked), best)]


def _interval_ids(rec, ls, samples) -> np.ndarray:
    """Per sample index, the position (in start order) of the label interval holding it, -1
    outside every interval."""
    ids = np.full(rec.n_samples, -1, dtype=np.int64)
    times = rec.times_s
    for k, lab in enumerate(sorted(ls, key=lambda lab: lab.start_s)):
        # LabelSet.at: an interval holds the times start_s <= t < end_s
        lo, hi = np.searchsorted(times, [lab.start_s, lab.end_s], side="left")
        ids[lo:hi] = k
    return ids[samples]


def _check_nan(rec, pick, starts, n, i) -> None:
    if rec.data.dtype.kind != "f" or not len(starts) or not rec.nan_count:
        return
    bad = np.isnan(rec.data[:, pick]).any(axis=1)
    edges = np.zeros(rec.n_samples + 1, dtype=np.int64)
    np.add.at(edges, starts, 1)
    np.add.at(edges, starts + n, -1)
    inside = bad & (np.cumsum(edges[:-1]) > 0)
    if inside.any():
        first = np.flatnonzero(inside)[0] / rec.samplerate_hz
        count = int(inside.sum())
        raise InputError(f"recording {i} ({_name(rec)}{rec.duration_s:g} s) has {count} "
                         f"sample{'s' * (count != 1)} with NaN inside kept windows, the first "
                         f"at {first:g} s: fill the gaps (e.g. interpolate), or leave them "
                         "unlabelled with unlabeled='drop', or crop them out with "
                         "Recording.slice_s")
