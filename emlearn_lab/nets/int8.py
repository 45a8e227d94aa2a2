"""int8 weights, int32 accumulation: the integer network the device runs with viper.

Every scale is a power of two, so rescaling is a shift and the device computes exactly what
this module computes, with no float arithmetic at all:

- Input: feature j becomes ``q = clip(floor(x * 2**s_j + 1/2), -128, 127)``, computed from the
  float32's bits on the device (``s_j`` from calibration: the 99.9th percentile of |x| maps
  near 127).
- Dense layer: the float weights, rescaled by the input's scales, are rounded to int8 with a
  power-of-two scale per output neuron (``2**k_o``; one shared ``k`` in the last layer, so its
  outputs compare); the bias is rounded at the same scale. ``acc = bias + sum w*a`` in int32.
- Hidden output: ``acc`` is shifted right by ``r_o`` with rounding (half up) and clipped to
  int8 (relu: 0..127). For sigmoid and tanh the shifted value is a pre-activation on one scale
  per layer, mapped by a 256-entry table computed here to the output on the scale 2**7.
- Last layer: ``acc`` itself is the score (logits on the scale 2**k); the first maximum wins.

The largest |acc| is 127 * 128 * n_in plus the bias (< 2**29): inside int32 up to MAX_INPUTS
inputs per layer. The device loads int8 values as unsigned bytes biased by 128 and corrects
the sum with per-neuron constants (see device_src/emlnet_kernels.py).
"""
from dataclasses import dataclass

import numpy as np

from ..exceptions import InputError

__all__ = ["Int8Net", "Int8Layer", "quantise_net", "forward_int8", "quantise_input"]

LUT_SCALE_SHIFT = 7
_BIAS_LIMIT = 2**29
MAX_INPUTS = 32768     # 127 * 128 * MAX_INPUTS + _BIAS_LIMIT < 2**31
_MAX_SHIFT = 24
_MAX_RIGHT_SHIFT = 31
_SATURATE = 8.0        # |pre-activation| beyond which sigmoid/tanh are flat at int8 resolution


@dataclass(eq=False)
class Int8Layer:
    weights: np.ndarray        # int8 (n_out, n_in)
    bias: np.ndarray           # int64 (n_out,) at scale 2**weight_shift
    weight_shift: np.ndarray   # int64 (n_out,): acc ~ z * 2**weight_shift
    out_shift: np.ndarray      # int64 (n_out,): right shift acc -> int8 (hidden layers)
    activation: str
    lut: np.ndarray | None     # int8 (256,) for sigmoid/tanh: pre + 128 -> output


@dataclass(eq=False)
class Int8Net:
    input_shift: np.ndarray    # int64 (n_features,)
    layers: list

    @property
    def output_shift(self) -> int:
        """Scores are the last layer's logits times 2**output_shift."""
        return int(self.layers[-1].weight_shift[0])


def _shift_for(amax: np.ndarray, limit: float, cap: int = _MAX_SHIFT) -> np.ndarray:
    """Largest k (<= cap) with amax * 2**k < limit, elementwise; cap where amax is 0."""
    with np.errstate(divide="ignore"):
        k = np.floor(np.log2(limit / amax))
    k = np.where(amax > 0, k, cap)
    k = np.minimum(k, cap).astype(np.int64)
    # log2 rounding at exact powers of two: step down until strictly below the limit.
    while np.any(bad := (amax * np.ldexp(1.0, k) >= limit)):
        k = np.where(bad, k - 1, k)
    return k


def _robust_max(v: np.ndarray) -> np.ndarray:
    """Per column: the 99.9th percentile of |v|, or the max when that is 0."""
    a = np.abs(v)
    q = np.quantile(a, 0.999, axis=0)
    return np.where(q > 0, q, a.max(axis=0))


def _round_shift(acc: np.ndarray, r: np.ndarray) -> np.ndarray:
    """round(acc / 2**r), halves up, for r >= 0 (integer arithmetic, as on the device)."""
    half = np.where(r > 0, np.left_shift(1, np.maximum(r - 1, 0)), 0)
    return np.right_shift(acc + half, r)


def quantise_input(X32: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """int8 features: clip(floor(x * 2**shift + 1/2)) = clip((floor(x * 2**(shift+1)) + 1) >> 1).
    Exact: float64 holds x * 2**(shift + 1) for every float32 x."""
    with np.errstate(over="ignore"):
        v = np.floor(np.ldexp(X32.astype(np.float64), (shift + 1)[None, :]))
    v = np.clip(v, -2.0**40, 2.0**40).astype(np.int64)
    return np.clip((v + 1) >> 1, -128, 127)


def _lut(activation: str, pre_shift: int) -> np.ndarray:
    v = np.arange(-128, 128) * 2.0 ** -pre_shift
    y = np.tanh(v) if activation == "tanh" else 1.0 / (1.0 + np.exp(-v))
    return np.clip(np.floor(y * 2**LUT_SCALE_SHIFT + 0.5), -128, 127).astype(np.int8)


def quantise_net(layers: list, X_calib: np.ndarray) -> Int8Net:
    """int8 parameters for float layers (list of (weights (n_in, n_out), bias, activation)),
    scales calibrated on rows X_calib (raw features)."""
    with np.errstate(all="ignore"):
        return _quantise_net(layers, X_calib)


def _quantise_net(layers: list, X_calib: np.ndarray) -> Int8Net:
    X = np.asarray(X_calib, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0 or X.shape[1] != layers[0][0].shape[0]:
        raise InputError(f"X_calib must have shape (n_rows, {layers[0][0].shape[0]}) with at "
                         f"least one row, got {X.shape}")
    if not np.all(np.isfinite(X)):
        r, c = np.argwhere(~np.isfinite(X))[0]
        raise InputError(f"X_calib has NaN/inf (first at row {r}, column {c}): impute or drop "
                         "those rows before calibrating the int8 scales")
    in_shift = _shift_for(_robust_max(X), 127.5, cap=100)
    a_shift = in_shift
    a_float = X
    out = []
    for li, (W, b, act) in enumerate(layers):
        last = li == len(layers) - 1
        Wd = W.astype(np.float64) * np.ldexp(1.0, -a_shift)[:, None]   # per real input unit
        k = _shift_for(np.abs(Wd).max(axis=0), 127.5)
        # The bias must fit the accumulator's headroom.
        k = np.minimum(k, _shift_for(np.abs(b.astype(np.float64)), float(_BIAS_LIMIT)))
        if last:
            k = np.full_like(k, k.min())      # one scale: the outputs compare directly
        elif act in ("sigmoid", "tanh"):
            # One table per layer: every neuron must reach its scale within a 31-bit shift.
            k = np.minimum(k, k.min() + _MAX_RIGHT_SHIFT)
        qw = np.clip(np.floor(Wd * np.ldexp(1.0, k)[None, :] + 0.5), -127, 127)
        qb = np.floor(b.astype(np.float64) * np.ldexp(1.0, k) + 0.5).astype(np.int64)
        z = a_float @ W.astype(np.float64) + b.astype(np.float64)
        lut = None
        if last:
            r = np.zeros_like(k)
            a_next_shift = None
        elif act in ("sigmoid", "tanh"):
            # One pre-activation scale 2**p per layer (one table); no neuron may need a left
            # shift to reach it.
            zmax = min(float(_robust_max(z).max(initial=0.0)), _SATURATE)
            p = min(int(_shift_for(np.array([zmax]), 127.5)[0]), int(k.min()))
            p = max(p, int(k.max()) - _MAX_RIGHT_SHIFT)
            r = k - p
            lut = _lut(act, p)
            a_next_shift = np.full_like(k, LUT_SCALE_SHIFT)
        else:
            y = np.maximum(z, 0) if act == "relu" else z
            # Activations beyond 127 steps saturate rather than need a shift past 31 bits.
            t = np.clip(_shift_for(_robust_max(y), 127.5), k - _MAX_RIGHT_SHIFT, k)
            r = k - t
            a_next_shift = t
        out.append(Int8Layer(qw.T.astype(np.int8), qb, k, r, act, lut))
        if not last:
            a_float = _float_act(z, act)
            a_shift = a_next_shift
    return Int8Net(in_shift, out)


def _float_act(z, act):
    if act == "relu":
        return np.maximum(z, 0)
    if act == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if act == "tanh":
        return np.tanh(z)
    return z


def forward_int8(net: Int8Net, X32: np.ndarray) -> np.ndarray:
    """Exact int32 scores (last layer accumulators) for float32 rows X32."""
    a = quantise_input(X32, net.input_shift)
    for layer in net.layers:
        acc = a @ layer.weights.T.astype(np.int64) + layer.bias[None, :]
        if layer is net.layers[-1]:
            return acc
        v = _round_shift(acc, layer.out_shift[None, :])
        if layer.lut is not None:
            a = layer.lut.astype(np.int64)[np.clip(v, -128, 127) + 128]
        else:
            a = np.clip(v, 0 if layer.activation == "relu" else -128, 127)
    raise AssertionError("a network has at least one layer")
