"""The binary model file: what the loadable runtime (device_src/emltrees.py) reads.

Little-endian. A 32-byte header (struct ``HEADER``) then six sections, each padded to 4 bytes:
roots, feature, threshold (uint32 keys), left, right, leaves (int32, n_leaves x n_outputs).
Layout "small" (feature uint8, indices uint16) is used when it fits, else "large" (uint16,
uint32). Bytes per decision node: 9 (small) or 14 (large), plus 4 bytes per leaf value.
"""
import struct

import numpy as np

from ..exceptions import ModelFileError
from .model import TreeModel

__all__ = ["to_bytes", "from_bytes", "HEADER", "MAGIC", "FORMAT_VERSION"]

MAGIC = b"EMLT"
FORMAT_VERSION = 1
HEADER = "<4sBBBBHHHHIIIb3x"
HEADER_BYTES = struct.calcsize(HEADER)
assert HEADER_BYTES == 32
_KINDS = ("classifier", "regressor")
_FEATURES = ("float32", "int16")


def _layout(model: TreeModel) -> int:
    return 0 if model.n_features <= 256 and model.n_nodes + model.n_leaves <= 65535 else 1


def _dtypes(layout: int):
    return ("<u1", "<u2") if layout == 0 else ("<u2", "<u4")


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def to_bytes(model: TreeModel) -> bytes:
    """Serialise a TreeModel into the model file format."""
    layout = _layout(model)
    if model.n_features > 65535 or model.n_outputs > 65535 or model.n_trees > 65535:
        raise ModelFileError("models with more than 65535 features, outputs or trees "
                             "cannot be written")
    fdt, idt = _dtypes(layout)
    leaf_max = int(np.abs(model.leaves).max(initial=0))
    header = struct.pack(
        HEADER, MAGIC, FORMAT_VERSION, _KINDS.index(model.kind),
        _FEATURES.index(model.features), layout, model.n_features, model.n_outputs,
        model.n_trees, min(model.max_depth, 65535), model.n_nodes, model.n_leaves, leaf_max,
        model.leaf_shift)
    sections = [
        model.roots.astype(idt), model.feature.astype(fdt), model.threshold.astype("<u4"),
        model.left.astype(idt), model.right.astype(idt), model.leaves.astype("<i4"),
    ]
    return header + b"".join(_pad(s.tobytes()) for s in sections)


def from_bytes(data: bytes, classes=None) -> TreeModel:
    """Parse a model file (host side; the device has its own reader with the same checks)."""
    if len(data) < HEADER_BYTES:
        raise ModelFileError(f"model file is {len(data)} bytes, shorter than the header")
    (magic, version, kind, features, layout, n_features, n_outputs, n_trees, _depth, n_nodes,
     n_leaves, _leaf_max, shift) = struct.unpack(HEADER, data[:HEADER_BYTES])
    if magic != MAGIC or version != FORMAT_VERSION:
        raise ModelFileError(f"not an emlearn_lab model file version {FORMAT_VERSION}")
    fdt, idt = _dtypes(layout)
    counts = [n_trees, n_nodes, n_nodes, n_nodes, n_nodes, n_leaves * n_outputs]
    dts = [idt, fdt, "<u4", idt, idt, "<i4"]
    arrays, off = [], HEADER_BYTES
    for n, dt in zip(counts, dts):
        size = n * np.dtype(dt).itemsize
        if off + size > len(data):
            raise ModelFileError("model file is truncated")
        arrays.append(np.frombuffer(data, dtype=dt, count=n, offset=off).astype(np.int64))
        off += size + (-size % 4)
    if off != len(data):
        raise ModelFileError(f"model file has {len(data) - off} trailing bytes")
    roots, feat, thr, left, right, leaves = arrays
    return TreeModel(kind=_KINDS[kind], features=_FEATURES[features], n_features=n_features,
                     feature=feat, threshold=thr, left=left, right=right, roots=roots,
                     leaves=leaves.reshape(n_leaves, n_outputs), leaf_shift=shift,
                     classes_=None if classes is None else np.asarray(classes),
                     source="model file")
