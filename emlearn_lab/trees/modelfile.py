"""The binary model file: what the loadable runtime (device_src/emltrees.py) reads.

Little-endian. A header then nine sections, each padded to 4 bytes: roots, feature,
threshold, left, right, leaf_start, leaf_class, leaf_value, quantiser. The header is the short
one (28 bytes, ``SHORT_HEADER``, version byte 3) when every count fits 16 bits, else the long
one (40 bytes, ``HEADER``, version 2); both hold the same fields (``FIELDS``).

- Nodes. Threshold keys are uint32 (float32 features) or uint16 (int16 features). A child code
  below ``child_base`` is a decision node that many places after its parent (so a walk always
  moves forward and cannot loop); ``child_base + i`` is leaf i. Layouts, the smallest that
  fits is used: "tiny" (feature uint8, child uint8), "small" (uint8, uint16), "large" (uint16,
  uint32). Per decision node: tiny 5 / 7 bytes (int16 / float32 features), small 7 / 9,
  large 10 / 14. Roots (absolute: below n_nodes a decision node, else leaf n - n_nodes) are
  uint16, uint32 for "large".
- Packed nodes (layout 3, "packed"; trees/packing.py): one word of 2, 3 or 4 bytes per decision
  node with feature, threshold, left and right fields sized to the model (the header's
  ``packing`` field gives their widths; 0 in the other layouts). The left child is implicit
  (code 0: the next node; l: leaf l - 1). Thresholds are indices into per-feature runs of a
  table of distinct keys (section "threshold", offsets uint16[n_features + 1] in section
  "left") or offsets from the one smallest key; the header's depth field counts the table's
  keys. Section "feature" holds the words (their low 16 bits for 3-byte words, whose top
  bytes are in section "right"). Roots are uint16. Chosen when its file is the smallest.
- Leaves. Sparse (leaf_start uint32[n_leaves + 1], leaf_class uint16, leaf_value int32: only
  the non-zero values, classes increasing), 4 bytes per leaf + 6 per non-zero value; or, for
  compressed classifiers (``leaf_bits`` >= 0), dense uint8[n_leaves * n_outputs] in
  leaf_value with the other two sections empty.
- Quantiser (features byte 2: int16 with learned scales): int32 offset per feature, then int8
  shift per feature (see trees/quantise.py).

A reader (the device's loader, and ``from_bytes`` here, which refuse the same files) checks
every field the walker reads before the first walk: sections exactly fill the file; steps land
on a later decision node, leaf codes and roots name a leaf, features < n_features (packed:
also table indices within their feature's run, offsets ordered, the smallest key plus the
largest offset below 2**32); sparse
leaves have ordered offsets and classes; a classifier's leaf sums to ``2**leaf_shift`` (within
rounding, or 0) and a dense leaf to more than 0; quantiser offsets within +-2**29 and shifts
within +-120; a regressor has one output, a sparse file at most max(256, n_cells) outputs.
"""
import struct

import numpy as np

from ..exceptions import ModelFileError
from .model import TreeModel
from .packing import Packing, PackedNodes, check_packed, join_words, pack, unpack
from .quantise import _OFFSET_LIMIT, _SHIFT_RANGE, FeatureQuantiser

__all__ = ["to_bytes", "from_bytes", "section_offsets", "kernel_name", "file_kernel_name",
           "child_base", "HEADER", "SHORT_HEADER", "FIELDS", "unpack_header", "pack_header",
           "rewrite_header", "header_bytes", "payload_bytes", "header_fields", "MAGIC",
           "FORMAT_VERSION", "SHORT_VERSION"]

SECTIONS = ("roots", "feature", "threshold", "left", "right", "leaf_start", "leaf_class",
            "leaf_value", "quantiser")

# The loadable runtime's layout table: the int32 cells heading a loaded model's work buffer
# (device_src/emltrees.py, Trees.__init__), read by every kernel. The device code and the
# machine-code walkers (device/thumb_walker.py, rv32_walker.py) write these slots as bare
# numbers: their sources are part of boards.memory.runtime_hash, which calibration.toml pins.
TABLE_N_TREES, TABLE_N_NODES, TABLE_N_OUTPUTS, TABLE_N_FEATURES = 0, 1, 2, 3
TABLE_SECTION = dict(zip(SECTIONS, (4, 5, 6, 7, 8, 9, 15, 16, 19)))  # byte offset in the blob
TABLE_KEYS, TABLE_SUMS = 10, 11        # first cell of the keys, of the sums (then leaf per tree)
TABLE_N_LEAVES = 12
TABLE_ROW_KIND = 13                    # 0 float32 keys, 1 int16, 2 float32 row of a q16 model
TABLE_TIE_MARGIN = 14                  # 0: no near-tie flag
TABLE_N_CELLS, TABLE_CHILD_BASE = 17, 18
TABLE_FLAGS = 20                       # layout | features << 2 | dense << 4
TABLE_SUM_MIN, TABLE_SUM_MAX, TABLE_ZERO_SUM_OK = 21, 22, 23   # a leaf's allowed value sum
TABLE_SCRATCH = 24                     # 24 .. 27: the machine-code walkers' own cells
TABLE_PACKED = 28                      # 28 .. 31 packed files: fb, tb, lb, word bytes | T << 8
LAYOUT_TABLE_CELLS = 32

MAGIC = b"EMLT"
# Two header forms, told apart by the version byte. The long one (version 2) holds any model;
# the short one (version 3) is written whenever its 16-bit counts hold the model, as they do
# every compressed forest of the benches: 12 bytes less per file, near a tenth of a small
# compressed model's. Reading both costs the device's runtime (emltrees.mpy) ~180 bytes once.
FORMAT_VERSION = 2
SHORT_VERSION = 3
HEADER = "<4sBBBBHHHHIIIIbbHI"
# magic, version, kind | features << 1 | layout << 3, leaf_shift, leaf_bits, then the long
# form's counts from n_features to child_base in 16 bits each.
SHORT_HEADER = "<4sBBbbHHHHHHHHHH"
HEADER_BYTES = struct.calcsize(HEADER)
SHORT_HEADER_BYTES = struct.calcsize(SHORT_HEADER)
assert HEADER_BYTES == 40 and SHORT_HEADER_BYTES == 28
# The header's fields, in the long form's order (unpack_header's tuple).
FIELDS = ("magic", "version", "kind", "features", "layout", "n_features", "n_outputs",
          "n_trees", "max_depth", "n_nodes", "n_leaves", "n_cells", "leaf_max", "leaf_shift",
          "leaf_bits", "packing", "child_base")
_KINDS = ("classifier", "regressor")
_FEATURES = ("float32", "int16", "int16 learned")


LAYOUTS = ("small", "large", "tiny", "packed")
PACKED = 3
# Limits the device's loader enforces (device_src/emltrees.py); the quantiser's are what
# fit_quantiser writes.
_FREE_OUTPUTS = 256
_QUANT_OFFSET = _OFFSET_LIMIT
_QUANT_SHIFT = max(-_SHIFT_RANGE[0], _SHIFT_RANGE[1])


def header_bytes(version: int) -> int:
    """Bytes of the header of this form (version byte)."""
    return SHORT_HEADER_BYTES if version == SHORT_VERSION else HEADER_BYTES


def payload_bytes(data: bytes) -> int:
    """Bytes of a model file after its header (what the device's loader reads into RAM)."""
    return len(data) - header_bytes(data[4])


def header_fields(version: int) -> list:
    """(name, byte offset, struct format) of each field of this header form (for fuzzers)."""
    fmt = SHORT_HEADER if version == SHORT_VERSION else HEADER
    names = (("magic", "version", "flags") + FIELDS[13:15] + FIELDS[5:13] + FIELDS[15:]
             if version == SHORT_VERSION else FIELDS)
    out, off = [], 0
    for name, code in zip(names, ["4s"] + list(fmt[3:])):
        out.append((name, off, "<" + code))
        off += struct.calcsize("<" + code)
    return out


def unpack_header(data: bytes) -> tuple:
    """The header's fields (FIELDS order) of either form.

    Raises
    ------
    ModelFileError
        Shorter than its header, not a tree model file, an unknown version, or flag bits
        outside kind/features/layout.
    """
    need = HEADER_BYTES if data[4:5] == bytes([FORMAT_VERSION]) else SHORT_HEADER_BYTES
    if len(data) < need:
        raise ModelFileError(f"model file is {len(data)} bytes, shorter than the {need}-byte "
                             "header")
    if data[:4] != MAGIC or data[4] not in (FORMAT_VERSION, SHORT_VERSION):
        raise ModelFileError(f"not an emlearn_lab model file version {FORMAT_VERSION} or "
                             f"{SHORT_VERSION}")
    if data[4] == FORMAT_VERSION:
        return struct.unpack(HEADER, data[:HEADER_BYTES])
    (magic, version, flags, shift, bits, *counts) = struct.unpack(
        SHORT_HEADER, data[:SHORT_HEADER_BYTES])
    if flags >> 5:
        raise ModelFileError("corrupt model file: bad kind/features/layout/leaf_bits byte")
    return (magic, version, flags & 1, (flags >> 1) & 3, flags >> 3, *counts[:8], shift, bits,
            *counts[8:])


def pack_header(fields) -> bytes:
    """The header holding these fields (FIELDS order), in the form fields[1] (version) names."""
    (magic, version, kind, features, layout, *counts) = fields
    if version != SHORT_VERSION:
        return struct.pack(HEADER, *fields)
    return struct.pack(SHORT_HEADER, magic, version, kind | features << 1 | layout << 3,
                       counts[8], counts[9], *counts[:8], *counts[10:])


def rewrite_header(data: bytes, **changes) -> bytes:
    """The file with header fields (FIELDS names) changed; version=2 or 3 rewrites it in that
    form (for tools and tests)."""
    h = list(unpack_header(data))
    body = data[header_bytes(h[1]):]
    for name, value in changes.items():
        h[FIELDS.index(name)] = value
    return pack_header(h) + body


def child_base(model: TreeModel) -> int:
    """Smallest child code that means a leaf: one past the largest parent-to-child step."""
    n = np.arange(model.n_nodes)
    rel = [c[c < model.n_nodes] - n[c < model.n_nodes] for c in (model.left, model.right)]
    return int(max((r.max(initial=0) for r in rel), default=0)) + 1


def _fitting_layouts(model: TreeModel, base: int | None = None, packed: bool = True) -> tuple:
    """(layout ids the model fits, smallest file first; its packed nodes or None) (base: its
    child_base, if known; packed=False: split layouts only, no packing tried)."""
    fits = [1]
    top = (child_base(model) if base is None else base) + model.n_leaves - 1
    if model.n_features <= 256 and model.n_nodes + model.n_leaves <= 65535 and top <= 65535:
        fits.insert(0, 0)
        if top <= 255:
            fits.insert(0, 2)
    nodes = pack(model)[0] if packed else None
    if nodes is not None and _node_bytes(model, nodes) < _node_bytes(model, fits[0]):
        fits.insert(0, PACKED)
    return fits, nodes


def _layout_nodes(model: TreeModel, layout: str | None = None, word_bytes: int | None = None,
                  table: bool | None = None, base: int | None = None) -> tuple:
    """(layout id, packed nodes or None) that ``to_bytes`` writes with these arguments."""
    if layout is None and word_bytes is None and table is None and model.file_layout in (
            None, "split"):
        fits, nodes = _fitting_layouts(model, base, packed=model.file_layout is None)
        return fits[0], (nodes if fits[0] == PACKED else None)
    lid = _layout_id(layout or model.file_layout or "packed")
    if lid == PACKED:
        nodes, why = pack(model, word_bytes, table)
        if nodes is None:
            raise ModelFileError(f"the model does not fit the 'packed' layout: {why}")
        return lid, nodes
    if lid not in _fitting_layouts(model, base, packed=False)[0]:
        raise ModelFileError(f"the model does not fit the {LAYOUTS[lid]!r} layout: name "
                             "another, or None for the smallest that fits")
    return lid, None


def file_layout(model: TreeModel) -> int:
    """The layout id ``to_bytes`` writes by default (TreeModel.file_layout): the smallest
    file's (None), the smallest split-node file's ("split"), or the one named."""
    return _layout_nodes(model)[0]


def file_packing(model: TreeModel) -> Packing | None:
    """The node packing ``to_bytes(model)`` writes, or None for split nodes."""
    nodes = _layout_nodes(model)[1]
    return None if nodes is None else nodes.packing


def _layout_id(name) -> int:
    if name not in LAYOUTS:
        raise ModelFileError(f"layout must be one of {LAYOUTS}, got {name!r}")
    return LAYOUTS.index(name)


def _node_bytes(model: TreeModel, layout) -> int:
    """Bytes of the roots and node sections (a PackedNodes for the packed layout)."""
    pad = lambda n: n + (-n % 4)            # noqa: E731
    if isinstance(layout, PackedNodes):
        return pad(2 * model.n_trees) + sum(pad(a.nbytes) for a in layout.sections(
            "<u4" if model.features == "float32" else "<u2"))
    fdt, rdt, cdt, tdt = _dtypes(layout, features_code(model))
    return pad(model.n_trees * np.dtype(rdt).itemsize) + sum(
        pad(model.n_nodes * np.dtype(dt).itemsize) for dt in (fdt, tdt, cdt, cdt))


def features_code(model: TreeModel) -> int:
    return 2 if model.quantiser is not None else _FEATURES.index(model.features)


def dense_leaves(model: TreeModel) -> bool:
    """Compressed classifiers store their small leaf integers densely as uint8."""
    return model.leaf_bits is not None


def kernel_name(model: TreeModel, layout: int | None = None) -> str:
    """The device kernel that walks this model's file (see device_src/emltrees_forest.tmpl):
    the smallest layout's, or the given one's (its default packing for the packed layout)."""
    return file_kernel_name(to_bytes(model, None if layout is None else LAYOUTS[layout]))


def file_kernel_name(data: bytes) -> str:
    """The device kernel that walks this model file (the name emltrees.py binds)."""
    h = unpack_header(data)
    layout, features, leaf_bits, code = h[4], h[3], h[14], h[15]
    name = LAYOUTS[layout]
    if layout == PACKED:
        p = Packing.from_code(code)
        name += "%d%s" % (8 * p.word_bytes, "t" if p.table else "r")
    return "forest_%s%d%s" % (name, 32 if features == 0 else 16, "d" if leaf_bits >= 0 else "s")


def _dtypes(layout: int, features: int):
    """(feature, root, child, threshold) dtypes."""
    f, r, c = {0: ("<u1", "<u2", "<u2"), 1: ("<u2", "<u4", "<u4"),
               2: ("<u1", "<u2", "<u1"), 3: ("<u1", "<u2", "<u1")}[layout]
    return f, r, c, ("<u4" if features == 0 else "<u2")


def _encode_children(model: TreeModel, base: int):
    n = np.arange(model.n_nodes)
    return tuple(np.where(c < model.n_nodes, c - n, base + c - model.n_nodes)
                 for c in (model.left, model.right))


def _decode_children(left, right, n_nodes: int, base: int):
    n = np.arange(n_nodes)
    return tuple(np.where(c < base, n + c, n_nodes + c - base) for c in (left, right))


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def to_bytes(model: TreeModel, layout: str | None = None, word_bytes: int | None = None,
             table: bool | None = None) -> bytes:
    """Serialise a TreeModel into the model file format.

    layout: "tiny", "small", "large" or "packed"; default the model's ``file_layout`` (None:
    the smallest file that fits; "split": the smallest without packed nodes).
    word_bytes, table: the packed layout's node word size (2, 3 or 4) and threshold encoding
    (True: indices into per-feature tables, False: offsets from the smallest threshold);
    default the smallest file.
    """
    base = child_base(model)
    layout, packed = _layout_nodes(model, layout, word_bytes, table, base)
    if model.n_features > 65535 or model.n_outputs > 65535 or model.n_trees > 65535:
        raise ModelFileError("models with more than 65535 features, outputs or trees "
                             "cannot be written")
    fcode = features_code(model)
    fdt, rdt, cdt, tdt = _dtypes(layout, fcode)
    leaf_max = int(np.abs(model.leaves).max(initial=0))
    if dense_leaves(model):
        if model.leaves.min(initial=0) < 0 or leaf_max > 255:
            raise ModelFileError("dense leaves must lie in 0..255")
        n_cells, start, cls = model.leaves.size, np.zeros(0, "<u4"), np.zeros(0, "<u2")
        values = model.leaves.astype("<u1").reshape(-1)
    else:
        rows, cols = np.nonzero(model.leaves)       # row-major: classes increase per leaf
        n_cells = len(rows)
        start = np.searchsorted(rows, np.arange(model.n_leaves + 1)).astype("<u4")
        cls, values = cols.astype("<u2"), model.leaves[rows, cols].astype("<i4")
    quant = np.frombuffer(model.quantiser.to_bytes() if model.quantiser is not None else b"",
                          "<u1")
    if layout == PACKED:
        nodes = [packed.roots.astype(rdt), *packed.sections(tdt)]
        depth, code, base = len(packed.table), packed.packing.code(), packed.base
        n_nodes = packed.n_nodes
    else:
        left, right = _encode_children(model, base)
        nodes = [model.roots.astype(rdt), model.feature.astype(fdt),
                 model.threshold.astype(tdt), left.astype(cdt), right.astype(cdt)]
        depth, code, n_nodes = min(model.max_depth, 65535), 0, model.n_nodes
    counts = (model.n_features, model.n_outputs, model.n_trees, depth, n_nodes,
              model.n_leaves, n_cells, leaf_max)
    version = SHORT_VERSION if max(counts + (code, base)) <= 65535 else FORMAT_VERSION
    header = pack_header((MAGIC, version, _KINDS.index(model.kind), fcode, layout, *counts,
                          model.leaf_shift, -1 if model.leaf_bits is None else model.leaf_bits,
                          code, base))
    sections = nodes + [start, cls, values, quant]
    return header + b"".join(_pad(s.tobytes()) for s in sections)


def _layout_of(data: bytes):
    (magic, version, kind, features, layout, n_features, n_outputs, n_trees, depth, n_nodes,
     n_leaves, n_cells, _leaf_max, shift, leaf_bits, code, _base) = unpack_header(data)
    fdt, rdt, cdt, tdt = _dtypes(layout, features)
    dense = leaf_bits >= 0
    if layout == PACKED:
        p = Packing.from_code(code)
        counts = [n_trees, n_nodes, depth, n_features + 1 if p.table else 0,
                  n_nodes if p.word_bytes == 3 else 0]
        dts = [rdt, "<u4" if p.word_bytes == 4 else "<u2", tdt, "<u2", "<u1"]
    else:
        counts, dts = [n_trees, n_nodes, n_nodes, n_nodes, n_nodes], [rdt, fdt, tdt, cdt, cdt]
    counts += [0 if dense else n_leaves + 1, 0 if dense else n_cells, n_cells,
               FeatureQuantiser.table_bytes(n_features) if features == 2 else 0]
    dts += ["<u4", "<u2", "<u1" if dense else "<i4", "<u1"]
    offsets, off = [], header_bytes(version)
    for n, dt in zip(counts, dts):
        offsets.append(off)
        size = n * np.dtype(dt).itemsize
        off += size + (-size % 4)
    return counts, dts, offsets, off


def section_offsets(data: bytes) -> dict:
    """Byte offset of each section in a model file (for tools and tests)."""
    return dict(zip(SECTIONS, _layout_of(data)[2]))


def _check_header(data: bytes) -> tuple:
    """The header checks of the device's emltrees.parse_header and load(), in its order."""
    h = unpack_header(data)
    (magic, version, kind, features, layout, n_features, n_outputs, n_trees, depth, n_nodes,
     n_leaves, n_cells, leaf_max, shift, leaf_bits, code, base) = h
    if kind > 1 or features > 2 or layout > 3 or not -1 <= leaf_bits <= 8:
        raise ModelFileError("corrupt model file: bad kind/features/layout/leaf_bits byte")
    if not (n_features and n_outputs and n_trees and n_leaves):
        raise ModelFileError("corrupt model file: zero features, outputs, trees or leaves")
    if kind == 1 and n_outputs != 1:
        raise ModelFileError(f"corrupt model file: a regressor with {n_outputs} outputs "
                             "(expected 1)")
    if leaf_bits < 0 and n_outputs > max(_FREE_OUTPUTS, n_cells):
        raise ModelFileError(f"corrupt model file: {n_outputs} outputs but only {n_cells} "
                             f"leaf values (at most {_FREE_OUTPUTS} classes, or one per value)")
    if layout == PACKED:
        p = Packing.from_code(code)
        if not (p.valid() and p.rb <= 31 and n_nodes and n_nodes + n_leaves <= 65535
                and (p.table or depth == 1)):
            raise ModelFileError("corrupt model file: bad packed node widths or counts")
    elif code:
        raise ModelFileError("corrupt model file: node widths in a file of unpacked nodes")
    elif layout != 1 and (n_features > 256 or n_nodes + n_leaves > 65535):
        raise ModelFileError("corrupt model file: counts too large for the small layout")
    top = {2: 255, 0: 65535, 1: 2**31 - 1, 3: 2**31 - 1}[layout]
    if layout == PACKED:
        top = (1 << Packing.from_code(code).rb) - 1
    if base < 1 or base > top or n_leaves > top - base + 1:
        raise ModelFileError(f"corrupt model file: bad child base for the {LAYOUTS[layout]} "
                             "layout")
    if leaf_bits >= 0 and (kind != 0 or n_cells != n_leaves * n_outputs or leaf_max > 255):
        raise ModelFileError("corrupt model file: dense leaves need a classifier with "
                             "n_leaves * n_outputs values of at most 255")
    if leaf_max >= 2**31 // n_trees or not -30 <= shift <= 30:
        raise ModelFileError("corrupt model file: leaf range overflows int32 sums")
    if kind == 0 and shift < 0:
        raise ModelFileError(f"corrupt model file: a classifier's leaf_shift is {shift} "
                             "(expected 0 .. 30)")
    end = _layout_of(data)[3]
    if end != len(data):
        raise ModelFileError(f"model file is {len(data)} bytes, its header says {end}")
    return h


def _check_payload(h: tuple, arrays: list) -> None:
    """The device's check_nodes, check_leaves and check_quantiser (emltrees_kernels.py has
    why passing them makes every walk bounded and every access in bounds)."""
    (_m, _v, kind, features, layout, n_features, n_outputs, _t, _d, n_nodes, n_leaves, n_cells,
     leaf_max, shift, leaf_bits, code, base) = h
    roots, feat, thr, left, right, start, cls, val, quant = arrays
    n = np.arange(n_nodes)
    if layout == PACKED:
        first = check_packed(Packing.from_code(code), join_words(Packing.from_code(code), feat,
                                                                 right), thr, left, n_features,
                             n_leaves, base)
        bad = np.zeros(n_nodes, bool)
        if first >= 0:
            bad[min(first, n_nodes - 1)] = True
    else:
        bad = feat >= n_features
        for c in (left, right):
            bad |= (c < 1) | ((c < base) & (c >= n_nodes - n)) | ((c >= base)
                                                                 & (c - base >= n_leaves))
    if bad.any() or (roots >= n_nodes + n_leaves).any():
        first = int(np.flatnonzero(bad)[0]) if bad.any() else \
            n_nodes + int(np.flatnonzero(roots >= n_nodes + n_leaves)[0])
        raise ModelFileError(f"corrupt model file: node/root {first} has an index out of "
                             "range or a child that does not follow its parent")
    lo = 0 if kind == 0 else -leaf_max
    if leaf_bits >= 0:
        rows = val.reshape(n_leaves, n_outputs)
        sums, smin, smax, zero_ok = rows.sum(axis=1), 1, n_outputs * leaf_max, False
        bad = (rows > leaf_max).any(axis=1)
    else:
        if start[0] != 0 or start[-1] != n_cells or (np.diff(start) < 0).any():
            raise ModelFileError("corrupt model file: bad leaf offsets")
        leaf_of = np.repeat(np.arange(n_leaves), np.diff(start))
        same_leaf = leaf_of[1:] == leaf_of[:-1]
        bad_cell = (cls >= n_outputs) | (val < lo) | (val > leaf_max)
        bad_cell[1:] |= same_leaf & (cls[1:] <= cls[:-1])
        bad = np.zeros(n_leaves, bool)
        bad[leaf_of[bad_cell]] = True
        sums = np.bincount(leaf_of, weights=val, minlength=n_leaves) if n_cells else \
            np.zeros(n_leaves)
        one = 2**shift
        smin, smax, zero_ok = max(1, one - 2 * n_outputs), one + 2 * n_outputs, True
        if kind == 1:
            smax = 0
    if smax > 0:
        bad |= ((sums < smin) | (sums > smax)) & ~((sums == 0) & zero_ok)
    if bad.any():
        raise ModelFileError(f"corrupt model file: leaf {int(np.flatnonzero(bad)[0])} has a "
                             "value out of range, a class out of range or out of order, or "
                             "values that do not sum as a classifier's leaf does")
    if features == 2:
        q = FeatureQuantiser.from_bytes(quant.astype(np.uint8).tobytes(), n_features)
        if (np.abs(q.offset) > _QUANT_OFFSET).any() or (np.abs(q.shift) > _QUANT_SHIFT).any():
            raise ModelFileError("corrupt model file: a quantiser offset beyond +-2**29 or "
                                 f"shift beyond +-{_QUANT_SHIFT}")


def from_bytes(data: bytes, classes=None) -> TreeModel:
    """Parse a model file (host side), refusing exactly what the device's loader refuses.

    Raises
    ------
    ModelFileError
        The file is truncated, corrupt or of another format version.
    """
    h = _check_header(data)
    (magic, version, kind, features, layout, n_features, n_outputs, n_trees, _depth, n_nodes,
     n_leaves, n_cells, _leaf_max, shift, leaf_bits, code, base) = h
    counts, dts, offsets, end = _layout_of(data)
    arrays = [np.frombuffer(data, dtype=dt, count=n, offset=off).astype(np.int64)
              for n, dt, off in zip(counts, dts, offsets)]
    _check_payload(h, arrays)
    roots, feat, thr, left, right, start, cls, val, quant = arrays
    if layout == PACKED:
        p = Packing.from_code(code)
        feat, thr, left, right = unpack(p, join_words(p, feat, right), thr, left, base)
    else:
        left, right = _decode_children(left, right, n_nodes, base)
    if leaf_bits >= 0:
        leaves = val.reshape(n_leaves, n_outputs)
    else:
        leaves = np.zeros((n_leaves, n_outputs), dtype=np.int64)
        rows = np.repeat(np.arange(n_leaves), np.diff(start))
        leaves[rows, cls] = val
    return TreeModel(kind=_KINDS[kind], features="float32" if features == 0 else "int16",
                     n_features=n_features, feature=feat, threshold=thr, left=left,
                     right=right, roots=roots, leaves=leaves, leaf_shift=shift,
                     classes_=None if classes is None else np.asarray(classes),
                     leaf_bits=None if leaf_bits < 0 else leaf_bits, file_layout=LAYOUTS[layout],
                     quantiser=(FeatureQuantiser.from_bytes(quant.astype(np.uint8).tobytes(),
                                                          n_features) if features == 2 else None),
                     source="model file")
