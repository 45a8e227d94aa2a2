# Post-processing of a model's per-window decisions into events, one source for the host
# (CPython: eml.post and DeviceApp.simulate import this file) and the device (the installed
# app). Integer arithmetic only, so both sides produce the same events bit for bit: float32
# scores enter as round-toward-zero fixed point with 16 fraction bits (s * 65536 is exact in
# float32 and float64 alike, and int() truncates the same way on every port).
#
# A spec is a list of stages (JSON written by the host), applied in order to each window:
#   ["smooth", n, "majority"]  the decision becomes the most frequent of the last n decisions
#                              (ties: the lowest class index; "no event" counts as a class
#                              after every other, and fills the votes before the first n)
#   ["smooth", n, "sum"]       the scores become their sums over the last n windows and the
#                              decision their first maximum (a mean vote without the division)
#   ["hysteresis", k, on, off] the decision is k from the window whose score k reaches on
#                              (>= on) until the first window whose score k is below off,
#                              otherwise "no event" (-1); on and off in fixed-point score units
#   ["ignore", [k, ...]]       these classes are "no event"
#   ["min_duration", n]        an event starts only after n consecutive windows of its class
#                              (its start is then dated back to the first of them)
#   ["merge_gaps", n]          an event goes on through up to n windows of "no event" or of
#                              other classes too short to become events (min_duration) when
#                              its class comes back after them; an event of another class
#                              ends it (events never overlap)
# The per-window stages (smooth, hysteresis, ignore) come before the event stages
# (min_duration, merge_gaps), each at most once.
#
# Events: on(start, cls) when an event is confirmed, off(start, end, cls) when it is over
# (end exclusive), window indices counted from 0. finish(end) closes an open event.
import array

FRACTION_BITS = 16
LIMIT = 1 << 30          # fixed-point scores are clamped to [-LIMIT, LIMIT]
MAX_WINDOWS = 4096       # n of a stage
MAX_CLASSES = 1024
PER_WINDOW = ("smooth", "hysteresis", "ignore")
EVENT_STAGES = ("min_duration", "merge_gaps")


def fixed(x):
    """A float32 score as fixed point (16 fraction bits, truncated, clamped; NaN: -LIMIT)."""
    if x != x:
        return -LIMIT
    v = x * 65536.0
    if v >= LIMIT:
        return LIMIT
    if v <= -LIMIT:
        return -LIMIT
    return int(v)


def _count(stage, what, low, high):
    v = stage[1] if len(stage) > 1 else None
    if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
        raise ValueError("post-processing stage %s: %s must be an int in [%d, %d], got %r"
                         % (stage[0], what, low, high, v))
    return v


class Post:
    """The stages of a spec over a stream of windows of a model with n_outputs scores, float
    (float32 scores, taken as fixed point) or not (int32 scores), deciding between
    n_classes classes (0: n_outputs; a one-output sigmoid classifier has 2). on(start, cls)
    and off(start, end, cls) are called as events begin and end."""

    def __init__(self, spec, n_outputs, float_scores, on, off, n_classes=0):
        if not isinstance(n_outputs, int) or not 1 <= n_outputs <= MAX_CLASSES:
            raise ValueError("post-processing: n_outputs must be in [1, %d], got %r"
                             % (MAX_CLASSES, n_outputs))
        if not isinstance(spec, list):
            raise ValueError("post-processing spec must be a list of stages")
        k = n_outputs
        self.k = k
        nc = n_classes or n_outputs
        if not isinstance(nc, int) or not 1 <= nc <= MAX_CLASSES:
            raise ValueError("post-processing: n_classes must be in [1, %d], got %r"
                             % (MAX_CLASSES, nc))
        self.nc = nc
        self.floats = bool(float_scores)
        self.on = on
        self.off = off
        self.scores = [0] * k            # this window's fixed-point scores (after smoothing)
        self.votes = 0                   # majority smoothing: window count, ring, counts
        self.sums = 0                    # sum smoothing: window count
        self.hyst = None
        self.ignored = None
        self.min_n = 1
        self.gap_n = 0
        seen = []
        for stage in spec:
            if not isinstance(stage, list) or not stage or stage[0] not in PER_WINDOW + \
                    EVENT_STAGES:
                raise ValueError("post-processing stage %r: expected one of %s"
                                 % (stage, ", ".join(PER_WINDOW + EVENT_STAGES)))
            name = stage[0]
            if name in seen:
                raise ValueError("post-processing stage %s appears twice" % name)
            if name in PER_WINDOW and [s for s in seen if s in EVENT_STAGES]:
                raise ValueError("post-processing stage %s must come before min_duration "
                                 "and merge_gaps" % name)
            seen.append(name)
            if name == "smooth":
                n = _count(stage, "n", 1, MAX_WINDOWS)
                how = stage[2] if len(stage) == 3 else None
                if how == "majority":
                    self.votes = n
                    self.vote_ring = array.array("h", [nc] * n)
                    self.vote_counts = array.array("H", [0] * (nc + 1))
                    self.vote_counts[nc] = n     # the ring starts full of "no event"
                elif how == "sum":
                    if nc != k:
                        raise ValueError("post-processing stage smooth: 'sum' needs one score "
                                         "per class (%d scores, %d classes)" % (k, nc))
                    self.sums = n
                    self.sum_ring = array.array("i", [0] * (n * k))
                    self.sum_totals = [0] * k
                else:
                    raise ValueError("post-processing stage smooth: how must be 'majority' "
                                     "or 'sum', got %r" % (how,))
                self.ring_at = 0
            elif name == "hysteresis":
                if len(stage) != 4 or not all(isinstance(v, int) and not isinstance(v, bool)
                                              for v in stage[1:]):
                    raise ValueError("post-processing stage hysteresis: expected "
                                     "[\"hysteresis\", class, on, off] of ints, got %r"
                                     % (stage,))
                if nc != k or not 0 <= stage[1] < k or stage[3] > stage[2]:
                    raise ValueError("post-processing stage hysteresis: class must be in "
                                     "[0, %d) with one score per class, and off <= on, got %r"
                                     % (k, stage))
                self.hyst = (stage[1], stage[2], stage[3])
                self.active = False
            elif name == "ignore":
                cls = stage[1] if len(stage) == 2 else None
                if not isinstance(cls, list) or not all(isinstance(c, int) and 0 <= c < nc
                                                        for c in cls):
                    raise ValueError("post-processing stage ignore: expected a list of class "
                                     "indices in [0, %d), got %r" % (nc, cls))
                self.ignored = array.array("b", [0] * nc)
                for c in cls:
                    self.ignored[c] = 1
            elif name == "min_duration":
                self.min_n = _count(stage, "n", 1, MAX_WINDOWS)
            else:
                self.gap_n = _count(stage, "n", 0, MAX_WINDOWS)
        self.order = [s for s in seen if s in PER_WINDOW]
        # Only summed smoothing and hysteresis read the scores: without them push() takes
        # None for raw and the caller can skip computing them.
        self.needs_scores = bool(self.sums) or self.hyst is not None
        # the event state: the open event (class, start, end) and the candidate
        self.ev_cls = -1
        self.ev_start = 0
        self.ev_end = 0
        self.cand_cls = -1
        self.cand_start = 0
        self.cand_n = 0

    def _smooth(self, decision):
        k = self.k
        at = self.ring_at
        if self.votes:
            ring = self.vote_ring
            counts = self.vote_counts
            nc = self.nc
            d = nc if decision < 0 else decision
            counts[ring[at]] -= 1
            counts[d] += 1
            ring[at] = d
            self.ring_at = at + 1 if at + 1 < self.votes else 0
            best = 0
            for c in range(1, nc + 1):
                if counts[c] > counts[best]:
                    best = c
            return -1 if best == nc else best
        ring = self.sum_ring
        totals = self.sum_totals
        scores = self.scores
        base = at * k
        for c in range(k):
            s = scores[c]
            totals[c] += s - ring[base + c]
            ring[base + c] = s
            scores[c] = totals[c]
        self.ring_at = at + 1 if at + 1 < self.sums else 0
        best = 0
        for c in range(1, k):
            if scores[c] > scores[best]:
                best = c
        return best

    def push(self, i, decision, raw):
        """Window i (0, 1, 2, ...): the model's decision (class index; regressors 0) and its
        n_outputs scores (None when not needs_scores). Calls on/off for the events it begins or ends; returns the
        decision after the per-window stages (-1: no event)."""
        scores = self.scores
        if not self.needs_scores:
            pass
        elif self.floats:
            for c in range(self.k):
                scores[c] = fixed(raw[c])
        else:
            for c in range(self.k):
                scores[c] = raw[c]
        for name in self.order:
            if name == "smooth":
                decision = self._smooth(decision)
            elif name == "hysteresis":
                cls, on, off = self.hyst
                s = scores[cls]
                if self.active:
                    self.active = s >= off
                else:
                    self.active = s >= on
                decision = cls if self.active else -1
            elif decision >= 0 and self.ignored[decision]:
                decision = -1
        self._event(i, decision)
        return decision

    def _event(self, i, d):
        if self.ev_cls >= 0:
            if d == self.ev_cls:
                self.ev_end = i + 1
                self.cand_cls = -1
                return
            if i + 1 - self.ev_end > self.gap_n:
                self._close()
        if d < 0:
            self.cand_cls = -1
            return
        if d == self.cand_cls:
            self.cand_n += 1
        else:
            self.cand_cls = d
            self.cand_start = i
            self.cand_n = 1
        if self.cand_n >= self.min_n:
            if self.ev_cls >= 0:
                self._close()
            self.ev_cls = d
            self.ev_start = self.cand_start
            self.ev_end = i + 1
            self.cand_cls = -1
            self.on(self.ev_start, d)

    def _close(self):
        cls = self.ev_cls
        self.ev_cls = -1
        self.off(self.ev_start, self.ev_end, cls)

    def finish(self):
        """The stream ended: close the open event, if any."""
        if self.ev_cls >= 0:
            self._close()
