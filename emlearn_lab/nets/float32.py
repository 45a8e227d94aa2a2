"""The float32 network arithmetic that the host and every device compute bit for bit alike.

Every operation is one IEEE-754 float32 operation, rounded to nearest, in a fixed order:
a dense layer starts from the bias and adds ``w * a`` (rounded) input by input, in input
order. numpy's float32 ufuncs do exactly that (a matrix product would not: BLAS reorders sums
and fuses multiply-adds). On the device, ports with single-precision floats compute the same
operations natively; ports with double-precision floats (the unix port) compute each in double
and round the result to float32, which gives the same float32 for +, -, *, / (double has more
than twice float32's precision, so rounding twice cannot differ from rounding once).

exp() is not a basic operation and libm's differ, so sigmoid and tanh use ``pexp``: range
reduction by ln 2 (Cody-Waite, two constants) and a degree-6 polynomial, then an exact scaling
by 2**k. Inputs are clamped to [-80, 80] so that no intermediate is subnormal or infinite.
Its error against the true exp is a few float32 ulps; what matters here is that it is the same
function everywhere.
"""
import numpy as np

__all__ = ["dense", "activate", "pexp", "ACTIVATIONS"]

F = np.float32
LOG2E = F(1.4426950408889634)
LN2_HI = F(0.693145751953125)        # 12 significant bits: k * LN2_HI is exact for |k| < 2**12
LN2_LO = F(1.4286068203094172e-06)
EXP_CLAMP = F(80.0)
# Taylor coefficients 1/6! .. 1/0!, Horner order.
POLY = tuple(F(c) for c in (1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1.0, 1.0))
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh")


def dense(a: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """bias + sum_i weights[i] * a[:, i], float32, accumulated in input order.

    a: (n_rows, n_in) float32; weights: (n_in, n_out) float32; bias: (n_out,) float32.
    """
    z = np.repeat(bias[None, :].astype(F), len(a), axis=0)
    for i in range(weights.shape[0]):
        z += a[:, i:i + 1] * weights[i][None, :]      # one rounded product, one rounded sum
    return z


def pexp(x: np.ndarray) -> np.ndarray:
    """The portable float32 exp (see the module docstring)."""
    x = np.minimum(np.maximum(x.astype(F), -EXP_CLAMP), EXP_CLAMP)    # NaN stays NaN
    k = np.floor(x * LOG2E + F(0.5))
    k = np.where(np.isnan(k), F(0.0), k)         # any k: p is NaN, so is the result
    r = x - k * LN2_HI
    r = r - k * LN2_LO
    p = np.full_like(r, POLY[0])
    for c in POLY[1:]:
        p = p * r + c
    return np.ldexp(p, k.astype(np.int32)).astype(F)


def activate(z: np.ndarray, activation: str) -> np.ndarray:
    """Hidden-layer activation in float32 steps (identical on the device)."""
    z = z.astype(F)
    if activation == "linear":
        return z
    if activation == "relu":
        return np.where(z > 0, z, F(0.0)).astype(F)
    if activation == "sigmoid":
        return (F(1.0) / (F(1.0) + pexp(-z))).astype(F)
    if activation == "tanh":
        return (F(1.0) - F(2.0) / (pexp(F(2.0) * z) + F(1.0))).astype(F)
    raise ValueError(f"unknown activation {activation!r}")
