"""The binary Gaussian-detector file that the device runtime (device_src/emlgauss.py) reads.

Little-endian. A 12-byte header (``HEADER``): magic b"EMLG", format version, estimator
(0 mixture: the score is the log-density; 1 envelope: minus the squared Mahalanobis
distance, one component, full covariance), covariance type (0 full, 1 tied, 2 diag,
3 spherical), a reserved zero byte, n_features, n_components. Then float32 sections, all
finite:

- means float32[K][n];
- consts float32[K] (c_k, see model.GaussModel; 0 for an envelope);
- the precision factor: full float32[K][n(n+1)/2] (per component the upper triangle of P_k
  column by column: P[0,0], P[0,1], P[1,1], P[0,2], ...), tied float32[n(n+1)/2] (shared),
  diag float32[K][n], spherical float32[K].

The threshold is not in the file: it reaches the device in the load call (its float32 bits),
so that changing it sends no file.
"""
import struct

import numpy as np

from ..exceptions import ModelFileError
from .model import COVARIANCE_TYPES, ESTIMATORS, GaussModel

__all__ = ["to_bytes", "from_bytes", "MAGIC", "FORMAT_VERSION", "HEADER", "factor_count"]

MAGIC = b"EMLG"
FORMAT_VERSION = 1
HEADER = "<4sBBBBHH"
HEADER_BYTES = 12
assert struct.calcsize(HEADER) == HEADER_BYTES


def factor_count(cov: str, n: int, k: int) -> int:
    """float32 values of the precision factor section."""
    tri = n * (n + 1) // 2
    return {"full": k * tri, "tied": tri, "diag": k * n, "spherical": k}[cov]


def to_bytes(model: GaussModel) -> bytes:
    n, k = model.n_features, model.n_components
    if n > 65535 or k > 65535:
        raise ModelFileError("Gaussian detectors with more than 65535 features or components "
                             "cannot be written")
    header = struct.pack(HEADER, MAGIC, FORMAT_VERSION, ESTIMATORS.index(model.estimator),
                         COVARIANCE_TYPES.index(model.covariance_type), 0, n, k)
    parts = [header, model.means.astype("<f4").tobytes(), model.consts.astype("<f4").tobytes(),
             model.factor.astype("<f4").reshape(-1).tobytes()]
    if model.factor.size != factor_count(model.covariance_type, n, k):
        raise ModelFileError("precision factor of the wrong size (internal error)")
    return b"".join(parts)


def from_bytes(data: bytes) -> GaussModel:
    """The model of a file (threshold -inf: it is not in the file); refuses what the device
    refuses."""
    if len(data) < HEADER_BYTES:
        raise ModelFileError(f"Gaussian file is {len(data)} bytes, shorter than its header")
    magic, version, est, cov, zero, n, k = struct.unpack_from(HEADER, data)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise ModelFileError(f"not an emlearn_lab Gaussian file version {FORMAT_VERSION}")
    if est > 1 or cov > 3 or zero or n == 0 or k == 0 or (est == 1 and (k != 1 or cov != 0)):
        raise ModelFileError("corrupt Gaussian file: bad estimator/covariance byte or size")
    ctype = COVARIANCE_TYPES[cov]
    nf = factor_count(ctype, n, k)
    size = HEADER_BYTES + 4 * (k * n + k + nf)
    if size != len(data):
        raise ModelFileError(f"Gaussian file is {len(data)} bytes, its header says {size}")
    v = np.frombuffer(data, dtype="<f4", offset=HEADER_BYTES)
    if not np.all(np.isfinite(v)):
        raise ModelFileError("corrupt Gaussian file: non-finite (NaN/inf) parameter")
    means, consts, factor = v[:k * n].reshape(k, n), v[k * n:k * n + k], v[k * n + k:]
    shape = {"full": (k, -1), "tied": (-1,), "diag": (k, n), "spherical": (k,)}[ctype]
    return GaussModel(ESTIMATORS[est], ctype, means.copy(), consts.copy(),
                      factor.reshape(shape).copy())
