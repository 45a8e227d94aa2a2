"""Order-preserving integer keys for features and thresholds.

The device compares features with thresholds as uint32 keys, never as floats (viper has no fast
float arithmetic). A float32 maps to its IEEE-754 bits with the sign bit set if it is positive,
or all bits inverted if it is negative; then ``a <= b`` for floats equals ``key(a) <= key(b)``
for keys, except that -0.0 sorts one below +0.0 (thresholds are never -0.0, see
:func:`float32_threshold`). int16 features map to ``x + 32768``. Both land in [0, 2**32).
"""
import numpy as np

__all__ = ["float32_keys", "int16_keys", "float32_threshold", "int16_threshold"]

_SIGN = np.uint32(0x80000000)


def float32_keys(x):
    """uint32 keys of float32 values (any shape), as int64."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    keys = np.where(bits & _SIGN, ~bits, bits | _SIGN)
    return keys.astype(np.int64)


def int16_keys(x):
    """Keys of int16 values: x + 32768, as int64."""
    return np.asarray(x, dtype=np.int64) + 32768


def float32_threshold(t):
    """The float32 threshold t32 for which ``x <= t32`` equals ``x <= t`` for every float32 x.

    scikit-learn compares float32 features with float64 thresholds. Rounding t to nearest
    float32 can land above t and send samples equal to that float32 left instead of right; the
    largest float32 not above t is exact for every float32 input.
    """
    t = np.asarray(t, dtype=np.float64)
    t32 = t.astype(np.float32)
    above = t32.astype(np.float64) > t
    t32 = np.where(above, np.nextafter(t32, np.float32(-np.inf)), t32)
    return np.where(t32 == 0, np.float32(0.0), t32).astype(np.float32)  # -0.0 -> +0.0


def int16_threshold(t):
    """Integer threshold for integer features: ``x <= t`` equals ``x <= floor(t)``."""
    return np.floor(np.asarray(t, dtype=np.float64))
