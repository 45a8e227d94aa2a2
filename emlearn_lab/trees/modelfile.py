"""The binary model file: what the loadable runtime (device_src/emltrees.py) reads.

Little-endian. A 36-byte header (struct ``HEADER``) then eight sections, each padded to 4 bytes:
roots, feature, threshold (uint32 keys), left, right, leaf_start (uint32, n_leaves + 1),
leaf_class (uint16), leaf_value (int32). Leaves are sparse (only non-zero class values, classes
increasing): most leaves a sample reaches are pure, so the device adds 1-2 values, not one per
class. Layouts, the smallest that fits is used: "tiny" (feature uint8, children uint8: a decision
child as its offset from the parent, a leaf as ``child_base`` + leaf id; for small trees),
7 bytes per decision node; "small" (uint8, uint16 absolute), 9 bytes; "large" (uint16, uint32),
14 bytes. Per leaf 4 bytes + 6 per non-zero value.
"""
import struct

import numpy as np

from ..exceptions import ModelFileError
from .model import TreeModel

__all__ = ["to_bytes", "from_bytes", "section_offsets", "HEADER", "MAGIC",
           "FORMAT_VERSION"]

SECTIONS = ("roots", "feature", "threshold", "left", "right", "leaf_start", "leaf_class",
            "leaf_value")

MAGIC = b"EMLT"
FORMAT_VERSION = 1
HEADER = "<4sBBBBHHHHIIIIbB2x"
HEADER_BYTES = struct.calcsize(HEADER)
assert HEADER_BYTES == 36
_KINDS = ("classifier", "regressor")
_FEATURES = ("float32", "int16")


LAYOUTS = ("small", "large", "tiny")


def _tiny_base(model: TreeModel) -> int:
    """Smallest u8 code for leaves when children are stored relative (tiny layout)."""
    n = np.arange(model.n_nodes)
    rel = [c[c < model.n_nodes] - n[c < model.n_nodes] for c in (model.left, model.right)]
    return int(max((r.max(initial=0) for r in rel), default=0)) + 1


def _fitting_layouts(model: TreeModel) -> list:
    """Layout ids the model fits, smallest file first."""
    fits = [1]
    if model.n_features <= 256 and model.n_nodes + model.n_leaves <= 65535:
        fits.insert(0, 0)
        if _tiny_base(model) + model.n_leaves <= 256:
            fits.insert(0, 2)
    return fits


def _dtypes(layout: int):
    """(feature, root, child) dtypes."""
    return {0: ("<u1", "<u2", "<u2"), 1: ("<u2", "<u4", "<u4"), 2: ("<u1", "<u2", "<u1")}[layout]


def _encode_children(model: TreeModel, layout: int, base: int):
    if layout != 2:
        return model.left, model.right
    n = np.arange(model.n_nodes)
    return tuple(np.where(c < model.n_nodes, c - n, base + c - model.n_nodes)
                 for c in (model.left, model.right))


def _decode_children(left, right, n_nodes: int, layout: int, base: int):
    if layout != 2:
        return left, right
    n = np.arange(n_nodes)
    return tuple(np.where(c < base, n + c, n_nodes + c - base) for c in (left, right))


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def to_bytes(model: TreeModel, layout: str | None = None) -> bytes:
    """Serialise a TreeModel into the model file format.

    layout: "tiny", "small" or "large"; default the smallest that fits.
    """
    fits = _fitting_layouts(model)
    if layout is None:
        layout = fits[0]
    else:
        if layout not in LAYOUTS:
            raise ModelFileError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        layout = LAYOUTS.index(layout)
        if layout not in fits:
            raise ModelFileError(f"the model does not fit the {LAYOUTS[layout]!r} layout")
    if model.n_features > 65535 or model.n_outputs > 65535 or model.n_trees > 65535:
        raise ModelFileError("models with more than 65535 features, outputs or trees "
                             "cannot be written")
    fdt, rdt, cdt = _dtypes(layout)
    base = _tiny_base(model) if layout == 2 else 0
    left, right = _encode_children(model, layout, base)
    leaf_max = int(np.abs(model.leaves).max(initial=0))
    rows, cols = np.nonzero(model.leaves)           # row-major: classes increase per leaf
    start = np.searchsorted(rows, np.arange(model.n_leaves + 1)).astype("<u4")
    header = struct.pack(
        HEADER, MAGIC, FORMAT_VERSION, _KINDS.index(model.kind),
        _FEATURES.index(model.features), layout, model.n_features, model.n_outputs,
        model.n_trees, min(model.max_depth, 65535), model.n_nodes, model.n_leaves, len(rows),
        leaf_max, model.leaf_shift, base)
    sections = [
        model.roots.astype(rdt), model.feature.astype(fdt), model.threshold.astype("<u4"),
        left.astype(cdt), right.astype(cdt), start, cols.astype("<u2"),
        model.leaves[rows, cols].astype("<i4"),
    ]
    return header + b"".join(_pad(s.tobytes()) for s in sections)


def _layout_of(data: bytes):
    (magic, version, kind, features, layout, n_features, n_outputs, n_trees, _depth, n_nodes,
     n_leaves, n_cells, _leaf_max, shift, _base) = struct.unpack(HEADER, data[:HEADER_BYTES])
    fdt, rdt, cdt = _dtypes(layout)
    counts = [n_trees, n_nodes, n_nodes, n_nodes, n_nodes, n_leaves + 1, n_cells, n_cells]
    dts = [rdt, fdt, "<u4", cdt, cdt, "<u4", "<u2", "<i4"]
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
     n_leaves, n_cells, _leaf_max, shift, base) = struct.unpack(HEADER, data[:HEADER_BYTES])
    if magic != MAGIC or version != FORMAT_VERSION:
        raise ModelFileError(f"not an emlearn_lab model file version {FORMAT_VERSION}")
    counts, dts, offsets, end = _layout_of(data)
    if end != len(data):
        raise ModelFileError(f"model file is {len(data)} bytes, its header says {end}")
    arrays = [np.frombuffer(data, dtype=dt, count=n, offset=off).astype(np.int64)
              for n, dt, off in zip(counts, dts, offsets)]
    roots, feat, thr, left, right, start, cls, val = arrays
    left, right = _decode_children(left, right, n_nodes, layout, base)
    leaves = np.zeros((n_leaves, n_outputs), dtype=np.int64)
    rows = np.repeat(np.arange(n_leaves), np.diff(start))
    leaves[rows, cls] = val
    return TreeModel(kind=_KINDS[kind], features=_FEATURES[features], n_features=n_features,
                     feature=feat, threshold=thr, left=left, right=right, roots=roots,
                     leaves=leaves, leaf_shift=shift,
                     classes_=None if classes is None else np.asarray(classes),
                     source="model file")
