"""The binary model file: what the loadable runtime (device_src/emltrees.py) reads.

Little-endian. A 36-byte header (struct ``HEADER``) then eight sections, each padded to 4 bytes:
roots, feature, threshold (uint32 keys), left, right, leaf_start (uint32, n_leaves + 1),
leaf_class (uint16), leaf_value (int32). Leaves are sparse (only non-zero class values, classes
increasing): most leaves a sample reaches are pure, so the device adds 1-2 values, not one per
class. Layout "small" (feature uint8, indices uint16) is used when it fits, else "large"
(uint16, uint32). Bytes per decision node: 9 (small) or 14 (large); per leaf 4 + 6 per value.
"""
import struct

import numpy as np

from ..exceptions import ModelFileError
from .model import TreeModel

__all__ = ["to_bytes", "from_bytes", "section_offsets", "HEADER", "MAGIC", "FORMAT_VERSION"]

SECTIONS = ("roots", "feature", "threshold", "left", "right", "leaf_start", "leaf_class",
            "leaf_value")

MAGIC = b"EMLT"
FORMAT_VERSION = 1
HEADER = "<4sBBBBHHHHIIIIb3x"
HEADER_BYTES = struct.calcsize(HEADER)
assert HEADER_BYTES == 36
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
    rows, cols = np.nonzero(model.leaves)           # row-major: classes increase per leaf
    start = np.searchsorted(rows, np.arange(model.n_leaves + 1)).astype("<u4")
    header = struct.pack(
        HEADER, MAGIC, FORMAT_VERSION, _KINDS.index(model.kind),
        _FEATURES.index(model.features), layout, model.n_features, model.n_outputs,
        model.n_trees, min(model.max_depth, 65535), model.n_nodes, model.n_leaves, len(rows),
        leaf_max, model.leaf_shift)
    sections = [
        model.roots.astype(idt), model.feature.astype(fdt), model.threshold.astype("<u4"),
        model.left.astype(idt), model.right.astype(idt), start, cols.astype("<u2"),
        model.leaves[rows, cols].astype("<i4"),
    ]
    return header + b"".join(_pad(s.tobytes()) for s in sections)


def _layout_of(data: bytes):
    (magic, version, kind, features, layout, n_features, n_outputs, n_trees, _depth, n_nodes,
     n_leaves, n_cells, _leaf_max, shift) = struct.unpack(HEADER, data[:HEADER_BYTES])
    fdt, idt = _dtypes(layout)
    counts = [n_trees, n_nodes, n_nodes, n_nodes, n_nodes, n_leaves + 1, n_cells, n_cells]
    dts = [idt, fdt, "<u4", idt, idt, "<u4", "<u2", "<i4"]
    offsets, off = [], HEADER_BYTES
    for n, dt in zip(counts, dts):
        offsets.append(off)
        size = n * np.dtype(dt).itemsize
        off += size + (-size % 4)
    return counts, dts, offsets, off


def section_offsets(data: bytes) -> dict:
    """Byte offset of each section in a model file (for tools and tests)."""
    return dict(zip(SECTIONS, _layout_of(data)[2]))


def from_bytes(data: bytes, classes=None) -> TreeModel:
    """Parse a model file (host side; the device has its own reader with the same checks)."""
    if len(data) < HEADER_BYTES:
        raise ModelFileError(f"model file is {len(data)} bytes, shorter than the header")
    (magic, version, kind, features, layout, n_features, n_outputs, n_trees, _depth, n_nodes,
     n_leaves, n_cells, _leaf_max, shift) = struct.unpack(HEADER, data[:HEADER_BYTES])
    if magic != MAGIC or version != FORMAT_VERSION:
        raise ModelFileError(f"not an emlearn_lab model file version {FORMAT_VERSION}")
    counts, dts, offsets, end = _layout_of(data)
    if end != len(data):
        raise ModelFileError(f"model file is {len(data)} bytes, its header says {end}")
    arrays = [np.frombuffer(data, dtype=dt, count=n, offset=off).astype(np.int64)
              for n, dt, off in zip(counts, dts, offsets)]
    roots, feat, thr, left, right, start, cls, val = arrays
    leaves = np.zeros((n_leaves, n_outputs), dtype=np.int64)
    rows = np.repeat(np.arange(n_leaves), np.diff(start))
    leaves[rows, cls] = val
    return TreeModel(kind=_KINDS[kind], features=_FEATURES[features], n_features=n_features,
                     feature=feat, threshold=thr, left=left, right=right, roots=roots,
                     leaves=leaves, leaf_shift=shift,
                     classes_=None if classes is None else np.asarray(classes),
                     source="model file")
