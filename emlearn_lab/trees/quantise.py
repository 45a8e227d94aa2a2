"""int16 feature quantisation that the host and every device compute bit for bit alike.

A feature x (float32) becomes ``q = clip(floor(x * 2**shift) - offset, -32768, 32767)``.
The scale is a power of two, so ``x * 2**shift`` and its floor are exact: on the host in
float64, on the device with integer operations on the float32's bits (exponent plus shift,
mantissa shifted; see ``quantise`` in device_src/emltrees_kernels.py). No float arithmetic is
involved, so it does not matter whether the port's floats are single or double precision.
A power-of-two scale costs at most one bit of the int16 range.

``fit`` picks, per feature, the largest shift for which the robust range of the calibration
data (the ``quantile`` and ``1 - quantile`` quantiles, 0.1% by default) spans at most 65 535
steps, and the offset that maps the low end to -32 768 (a feature whose robust range is a
single value keeps its full min..max range; a constant feature gets shift 0). Values outside
that range are clipped to -32 768 / 32 767: a tree can still split on "very low" or "very high"
but not within the clipped tails. ``offset`` is kept within ±2**29 so that the device's
32-bit arithmetic cannot overflow; for features far from zero relative to their spread this
caps the resolution, at about 2**-7 of float32's own resolution at that magnitude.
"""
from dataclasses import dataclass

import numpy as np

from ..exceptions import InputError

__all__ = ["FeatureQuantiser", "fit_quantiser", "Q_MIN", "Q_MAX"]

Q_MIN, Q_MAX = -32768, 32767
_OFFSET_LIMIT = 2**29
_SHIFT_RANGE = (-120, 120)


@dataclass(frozen=True, eq=False)
class FeatureQuantiser:
    """Per-feature ``shift`` (int) and ``offset`` (int) arrays; see the module docstring."""

    shift: np.ndarray
    offset: np.ndarray

    @property
    def n_features(self) -> int:
        return len(self.shift)

    @property
    def step(self) -> np.ndarray:
        """Width of one int16 step per feature, in feature units."""
        return 2.0 ** -self.shift.astype(np.float64)

    def range(self) -> tuple:
        """(low, high) feature values that map to -32768 and 32767 (clipped beyond)."""
        return ((Q_MIN + self.offset) * self.step, (Q_MAX + 1 + self.offset) * self.step)

    def floor_scaled(self, X32: np.ndarray) -> np.ndarray:
        """floor(x * 2**shift) for float32 x, exactly (float64 holds it; ±inf stays)."""
        with np.errstate(over="ignore"):
            return np.floor(np.ldexp(X32.astype(np.float64), self.shift[None, :]))

    def transform(self, X32: np.ndarray) -> np.ndarray:
        """float32 features (shape (n, n_features)) -> int16, as the device computes it."""
        f = self.floor_scaled(X32)
        return np.clip(f - self.offset[None, :], Q_MIN, Q_MAX).astype(np.int16)

    def threshold(self, feature: np.ndarray, t32: np.ndarray) -> np.ndarray:
        """int16-space threshold T for float32 thresholds t32 on the given features:
        ``q(x) <= T`` holds exactly when ``floor(x * 2**s) <= floor(t32 * 2**s)``, so it
        agrees with ``x <= t32`` except for x within one step above t32. Returned unclipped
        (int64): T < -32768 never goes left, T >= 32767 always does."""
        scaled = np.floor(np.ldexp(t32.astype(np.float64), self.shift[feature]))
        # Beyond ±2**40 every threshold is "always left/right" alike; keeps the cast finite.
        scaled = np.clip(scaled, -2.0**40, 2.0**40)
        return scaled.astype(np.int64) - self.offset[feature]

    def to_bytes(self) -> bytes:
        """The device's parameter table: int32 offsets, then int8 shifts (padded to 4)."""
        shifts = self.shift.astype("<i1").tobytes()
        return self.offset.astype("<i4").tobytes() + shifts + bytes(-len(shifts) % 4)

    @classmethod
    def from_bytes(cls, data: bytes, n_features: int) -> "FeatureQuantiser":
        offset = np.frombuffer(data, "<i4", n_features).astype(np.int64)
        shift = np.frombuffer(data, "<i1", n_features, 4 * n_features).astype(np.int64)
        return cls(shift, offset)

    @staticmethod
    def table_bytes(n_features: int) -> int:
        return 4 * n_features + -(-n_features // 4) * 4


def fit_quantiser(X, quantile: float = 0.001) -> FeatureQuantiser:
    """Learn per-feature shift/offset from calibration rows X (raw features).

    Raises
    ------
    InputError
        X is not 2-D, has no rows, or holds NaN/inf; quantile outside [0, 0.25).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise InputError(f"X_calib must be a 2-D array with at least one row, got shape "
                         f"{X.shape}")
    if not np.all(np.isfinite(X)):
        r, c = np.argwhere(~np.isfinite(X))[0]
        raise InputError(f"X_calib has NaN/inf (first at row {r}, column {c}): impute or drop "
                         "those rows before learning the int16 scales")
    if not 0 <= quantile < 0.25:
        raise InputError(f"quantile must be in [0, 0.25), got {quantile}")
    X32 = X.astype(np.float32).astype(np.float64)
    lo = np.quantile(X32, quantile, axis=0)
    hi = np.quantile(X32, 1 - quantile, axis=0)
    # A feature that is (almost) always one value, e.g. a mostly-zero pixel, keeps its full
    # range: trimming would clip away the rare values a tree splits on.
    flat = hi <= lo
    lo[flat], hi[flat] = X32.min(axis=0)[flat], X32.max(axis=0)[flat]
    span = np.maximum(hi - lo, 0.0)
    shift = np.empty(X.shape[1], dtype=np.int64)
    offset = np.empty(X.shape[1], dtype=np.int64)
    for j in range(X.shape[1]):
        s = 0 if span[j] == 0 else int(np.floor(np.log2(65535.0 / span[j])))
        s = min(s, _SHIFT_RANGE[1])
        while True:
            base = np.floor(np.ldexp(lo[j], s))
            top = np.floor(np.ldexp(hi[j], s))
            o = base - Q_MIN
            if (top - base <= Q_MAX - Q_MIN and abs(o) <= _OFFSET_LIMIT) \
                    or s <= _SHIFT_RANGE[0]:
                break
            s -= 1
        shift[j], offset[j] = s, int(o)
    return FeatureQuantiser(shift, offset)
