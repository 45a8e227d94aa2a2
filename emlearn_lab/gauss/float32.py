"""The float32 arithmetic of a Gaussian detector, bit for bit what device_src/emlgauss.py
computes.

Every operation is one IEEE-754 float32 operation rounded to nearest, in a fixed order (see
nets/float32.py for why numpy's float32 ufuncs and the device agree). Per component k, for a
row x:

- d_i = x_i - mean_k,i;
- y = P_k^T d with P_k the upper-triangular precision factor (full, tied: y_j = sum over
  i <= j of d_i * P[i, j], from 0.0, in increasing i), or y_i = d_i * p_k,i (diag), or
  y_i = d_i * p_k (spherical);
- m_k = sum_j y_j * y_j (from 0.0, in increasing j) and log_prob_k = c_k - 0.5 * m_k.

The score is log_prob_0 with one component, else the log-sum-exp: mx = the first maximum of
log_prob by "greater than" (a NaN first stays), -inf when mx is -inf, else
mx + plog(sum_k pexp(log_prob_k - mx)) (sum in increasing k). exp is nets/float32.pexp; log is
:func:`plog`, written here: range reduction by the float's bits and an odd polynomial in
s = f / (2 + f), a few ulps from the true log and, above all, the same function everywhere.
"""
import numpy as np

from ..nets.float32 import pexp

__all__ = ["plog", "mahalanobis", "log_sum_exp", "LOG_BITS"]

F = np.float32


def _f(bits: int) -> np.float32:
    return np.array([bits], dtype="<u4").view("<f4")[0]


# By their bits, as the device takes them (a decimal literal is parsed in float32 on ports
# with single-precision floats, not always correctly rounded).
LOG_BITS = {"SQRT2": 0x3FB504F3,       # float32(sqrt(2))
            "LN2_HI": 0x3F317200,      # ln 2, high 12 bits: e * LN2_HI is exact for |e| < 2**12
            "LN2_LO": 0x35BFBE8E,      # ln 2 - LN2_HI
            "C3": 0x3F2AAAAB,          # 2/3
            "C5": 0x3ECCCCCD,          # 2/5
            "C7": 0x3E924925,          # 2/7
            "C9": 0x3E638E39,          # 2/9
            "C11": 0x3E3A2E8C,         # 2/11
            "TWO25": 0x4C000000,       # 2**25: brings a subnormal to a normal float
            "MIN_NORMAL": 0x00800000}  # the smallest normal float32, 2**-126
SQRT2, LN2_HI, LN2_LO, C3, C5, C7, C9, C11, TWO25, MIN_NORMAL = (
    _f(LOG_BITS[k]) for k in ("SQRT2", "LN2_HI", "LN2_LO", "C3", "C5", "C7", "C9", "C11",
                              "TWO25", "MIN_NORMAL"))


def plog(x: np.ndarray) -> np.ndarray:
    """The portable float32 natural log: NaN for NaN and x < 0, -inf for 0, inf for inf.

    x = 2**e * m with m in [sqrt(2)/2, sqrt(2)) from the float's bits; f = m - 1 (exact);
    s = f / (2 + f); log(1 + f) = 2s + s z (2/3 + z (2/5 + z (2/7 + z (2/9 + z 2/11))))
    with z = s*s (|s| < 0.172: the next term is below a float32 ulp);
    log x = (e * LN2_LO + log(1 + f)) + e * LN2_HI.
    """
    x = np.asarray(x, dtype=F)
    with np.errstate(all="ignore"):
        special = ~(np.isfinite(x) & (x > 0))
        xs = np.where(special, F(1.0), x).astype(F)
        sub = xs < MIN_NORMAL
        xs = np.where(sub, xs * TWO25, xs).astype(F)
        bits = xs.view("<u4").astype(np.int64)
        e = ((bits >> 23) & 0xFF) - 127 - np.where(sub, 25, 0)
        m = ((bits & 0x7FFFFF) | 0x3F800000).astype("<u4").view("<f4")
        big = m > SQRT2
        m = np.where(big, m * F(0.5), m).astype(F)
        e = e + big
        f = m - F(1.0)
        s = f / (F(2.0) + f)
        z = s * s
        p = C11 * z + C9
        p = p * z + C7
        p = p * z + C5
        p = p * z + C3
        r = s * z
        r = r * p
        lg = (s + s) + r
        ef = e.astype(F)
        out = (ef * LN2_LO + lg) + ef * LN2_HI
        out = np.where(special, np.where(np.isnan(x) | (x < 0), F(np.nan),
                                         np.where(x == 0, F(-np.inf), x)), out)
    return out.astype(F)


def mahalanobis(X32: np.ndarray, means: np.ndarray, factor: np.ndarray, cov: str,
                k: int) -> np.ndarray:
    """m_k for rows X32 (float32), component k; ``factor`` is the packed precision factor of
    the model file (see gaussfile): full: (K, n(n+1)/2), tied: (n(n+1)/2,), diag: (K, n),
    spherical: (K,)."""
    n = X32.shape[1]
    d = X32 - means[k][None, :]
    m = np.zeros(len(X32), dtype=F)
    if cov in ("full", "tied"):
        packed = factor[k] if cov == "full" else factor
        q = 0
        for j in range(n):
            y = np.zeros(len(X32), dtype=F)
            for i in range(j + 1):
                y = y + d[:, i] * packed[q]
                q += 1
            m = m + y * y
        return m
    for i in range(n):
        y = d[:, i] * (factor[k, i] if cov == "diag" else factor[k])
        m = m + y * y
    return m


def log_sum_exp(lp: np.ndarray) -> np.ndarray:
    """The score from log_prob (rows, K) float32 (see the module docstring)."""
    if lp.shape[1] == 1:
        return lp[:, 0]
    mx = lp[:, 0]
    for k in range(1, lp.shape[1]):
        mx = np.where(lp[:, k] > mx, lp[:, k], mx)
    s = np.zeros(len(lp), dtype=F)
    for k in range(lp.shape[1]):
        s = s + pexp(lp[:, k] - mx)
    out = mx + plog(s)
    return np.where(mx == F(-np.inf), F(-np.inf), out).astype(F)
