"""The binary examples file that the device runtime (device_src/emlknn.py) reads.

Little-endian. A 24-byte header (``HEADER``): magic b"EMLK", format version, kind (0
classifier, 1 regressor), features (0 float32, 1 int16), metric (0 euclidean, 1 manhattan),
weights (0 uniform, 1 distance), a zero byte, n_neighbors, n_features, n_outputs (classes of
a classifier, 1 for a regressor), max_abs (int16 features: the largest |value| the model
takes, see exact.int16_bound; 0 for float32), n_examples (uint32), two zero bytes. Then the
examples, n_examples x n_features float32 or int16 (row by row, padded to 4 bytes), then the
targets: uint16 class indices (padded to 4 bytes) or float32 values.

The model file holds the examples the model was converted with. The store file (the examples
learned on the device) is a file of the same format whose header equals the model file's
except for n_examples.
"""
import struct

import numpy as np

from ..exceptions import ModelFileError

__all__ = ["MAGIC", "FORMAT_VERSION", "HEADER", "HEADER_BYTES", "to_bytes", "store_bytes",
           "parse", "file_bytes"]

MAGIC = b"EMLK"
FORMAT_VERSION = 1
HEADER = "<4sBBBBBxHHHHI2x"
HEADER_BYTES = 24
METRICS = ("euclidean", "manhattan")
WEIGHTS = ("uniform", "distance")
FEATURES = ("float32", "int16")
assert struct.calcsize(HEADER) == HEADER_BYTES


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def file_bytes(model, n_examples: int) -> int:
    """Size of a file of ``n_examples`` examples of ``model``."""
    item = 4 if model.features == "float32" else 2
    rows = n_examples * model.n_features * item
    targets = n_examples * (2 if model.kind == "classifier" else 4)
    return HEADER_BYTES + rows + (-rows % 4) + targets + (-targets % 4)


def _header(model, n_examples: int) -> bytes:
    if model.n_features > 65535 or model.n_outputs > 65535 or model.n_neighbors > 65535:
        raise ModelFileError("models with more than 65535 features, classes or neighbours "
                             "cannot be written")
    return struct.pack(HEADER, MAGIC, FORMAT_VERSION, 0 if model.kind == "classifier" else 1,
                       FEATURES.index(model.features), METRICS.index(model.metric),
                       WEIGHTS.index(model.weights), model.n_neighbors, model.n_features,
                       model.n_outputs, model.max_abs, n_examples)


def _payload(model, X: np.ndarray, y: np.ndarray) -> bytes:
    dtype = "<f4" if model.features == "float32" else "<i2"
    ydtype = "<u2" if model.kind == "classifier" else "<f4"
    return (_pad(np.ascontiguousarray(X).astype(dtype).tobytes())
            + _pad(np.asarray(y).astype(ydtype).tobytes()))


def to_bytes(model) -> bytes:
    """The model file: the examples the model was converted with."""
    return _header(model, len(model.X)) + _payload(model, model.X, model.y)


def store_bytes(model) -> bytes:
    """The store file of the learned examples (the host's mirror of the device's store)."""
    return _header(model, len(model.learned_y)) + _payload(model, model.learned_X,
                                                           model.learned_y)


def parse(model, data: bytes) -> tuple:
    """(X, y) of a store (or model) file of ``model``, validated against its header; raises
    ModelFileError."""
    if len(data) < HEADER_BYTES:
        raise ModelFileError(f"examples file is {len(data)} bytes, shorter than its header")
    head = struct.unpack_from(HEADER, data)
    if head[0] != MAGIC or head[1] != FORMAT_VERSION:
        raise ModelFileError(f"not an emlearn_lab examples file version {FORMAT_VERSION}")
    n = head[-1]
    if data[:HEADER_BYTES] != _header(model, n):
        raise ModelFileError("the examples file is of another model (its header differs): "
                             "deploy this model again")
    if len(data) != file_bytes(model, n):
        raise ModelFileError(f"examples file is {len(data)} bytes, its header says "
                             f"{file_bytes(model, n)}")
    item = 4 if model.features == "float32" else 2
    rows = n * model.n_features * item
    X = np.frombuffer(data, "<f4" if item == 4 else "<i2", n * model.n_features,
                      HEADER_BYTES).reshape(n, model.n_features)
    off = HEADER_BYTES + rows + (-rows % 4)
    y = np.frombuffer(data, "<u2" if model.kind == "classifier" else "<f4", n, off)
    if model.kind == "classifier" and n and y.max() >= model.n_outputs:
        raise ModelFileError("examples file has a class index beyond the model's classes")
    return X.astype(np.float32 if item == 4 else np.int16), \
        y.astype(np.int64 if model.kind == "classifier" else np.float32)
