"""The binary network file that the device runtime (device_src/emlnet.py) reads.

Little-endian. A 16-byte header (``HEADER``): magic b"EMLN", format version, kind (0
classifier, 1 regressor), weights (0 float32, 1 int8), output (0 softmax, 1 sigmoid, 2 linear,
3 relu), n_features, n_outputs, n_layers, output shift (int16: int8 scores are the
last layer's outputs times 2**shift; 0 for float32). Then one 8-byte descriptor per layer
(``LAYER``: n_in, n_out, activation code (0 linear, 1 relu, 2 sigmoid, 3 tanh; the last layer
0 or 1: what the device applies to its scores), has_lut). Then the data, every section padded
to 4 bytes:

- float32: per layer, weights float32[n_out][n_in] (one row per output neuron: the device
  accumulates along it), bias float32[n_out].
- int8: input shift int8[n_features]; per layer, weights uint8[n_out][n_in] (int8 + 128),
  const int32[n_out] (bias - 128 * sum of the row's uint8 weights + 16384 * n_in: corrects the
  biased products, see device_src/emlnet_kernels.py), right shift uint8[n_out], and, if
  has_lut, the activation table uint8[256] (int8 + 128).
"""
import struct

import numpy as np

from ..exceptions import ModelFileError
from .float32 import ACTIVATIONS
from .model import OUTPUTS, NetModel

__all__ = ["to_bytes", "MAGIC", "FORMAT_VERSION", "HEADER", "LAYER"]

MAGIC = b"EMLN"
FORMAT_VERSION = 1
HEADER = "<4sBBBBHHHh"
LAYER = "<HHBB2x"
assert struct.calcsize(HEADER) == 16 and struct.calcsize(LAYER) == 8


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def _layer_codes(model: NetModel):
    """(activation code, has_lut) per layer, as the device applies them."""
    codes = []
    for i, layer in enumerate(model.layers):
        last = i == len(model.layers) - 1
        act = ("relu" if model.output == "relu" else "linear") if last else layer.activation
        lut = model.int8 is not None and model.int8.layers[i].lut is not None
        codes.append((ACTIVATIONS.index(act), int(lut)))
    return codes


def to_bytes(model: NetModel) -> bytes:
    if model.n_features > 65535 or model.n_outputs > 65535 or len(model.layers) > 65535:
        raise ModelFileError("networks with more than 65535 features, outputs or layers "
                             "cannot be written")
    header = struct.pack(HEADER, MAGIC, FORMAT_VERSION, 0 if model.kind == "classifier" else 1,
                         0 if model.int8 is None else 1, OUTPUTS.index(model.output),
                         model.n_features, model.n_outputs, len(model.layers),
                         0 if model.int8 is None else model.int8.output_shift)
    codes = _layer_codes(model)
    desc = b"".join(struct.pack(LAYER, la.n_in, la.n_out, act, lut)
                    for la, (act, lut) in zip(model.layers, codes))
    parts = [header, desc]
    if model.int8 is None:
        for la in model.layers:
            parts += [la.weights.T.astype("<f4").tobytes(), la.bias.astype("<f4").tobytes()]
    else:
        if not np.all(np.abs(model.int8.input_shift) <= 120):
            raise ModelFileError("input scales beyond 2**±120: rescale the features")
        parts.append(_pad(model.int8.input_shift.astype("<i1").tobytes()))
        for q in model.int8.layers:
            wu = q.weights.astype(np.int64) + 128
            const = q.bias - 128 * wu.sum(axis=1) + 16384 * wu.shape[1]
            if np.abs(const).max(initial=0) >= 2**31 or q.out_shift.max(initial=0) > 31:
                raise ModelFileError("int8 layer constants out of range (internal error)")
            parts += [_pad(wu.astype("<u1").tobytes()), const.astype("<i4").tobytes(),
                      _pad(q.out_shift.astype("<u1").tobytes())]
            if q.lut is not None:
                parts.append((q.lut.astype(np.int64) + 128).astype("<u1").tobytes())
    return b"".join(parts)
