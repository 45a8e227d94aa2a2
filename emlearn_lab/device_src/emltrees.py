# emlearn_lab tree runtime for MicroPython (the "loadable" form).
#
# A model file (see emlearn_lab/trees/modelfile.py) is a little-endian header, 40 bytes
# (version 2) or the same fields in 16 bits, 28 bytes (version 3), then nine 4-byte-aligned
# sections:
#   roots[n_trees], feature[n_nodes], threshold[n_nodes] (uint32 keys, uint16 for int16
#   features), left[n_nodes], right[n_nodes], leaf_start[n_leaves + 1] (uint32),
#   leaf_class[n_cells] (uint16), leaf_value[n_cells] (int32): leaf l adds leaf_value[k] to
#   class leaf_class[k] for k in leaf_start[l] .. leaf_start[l + 1] - 1 (its non-zero values,
#   classes increasing); or, with leaf_bits >= 0, dense uint8 leaf_value[n_leaves * n_outputs]
#   and the two sections before it empty; then the quantiser (features byte 2): int32 offset
#   and int8 shift per feature.
# A child code below child_base steps forward that many nodes; child_base + i is leaf i. Roots
# below n_nodes are decision nodes, the others leaf n - n_nodes.
# Packed files (layout 3): a 2-4 byte word per node (feature, threshold, left, right bit
# fields, widths in the header's packing word), an implicit left child, thresholds from a
# per-feature table or offsets from the smallest key (emlearn_lab/trees/packing.py).
# Everything read from the file is checked before use: a corrupt file raises ValueError here,
# it never crashes or hangs the device.
import array
import struct

import emlab_common
from emlab_common import FEATURES_F32, FEATURES_Q16, KIND_CLASSIFIER, KIND_REGRESSOR

try:
    import emltrees_kernels as _k
except (ImportError, SyntaxError, ValueError):
    # No native code on this port (or an .mpy for another arch): plain bytecode kernels.
    import emltrees_pure as _k

MAGIC = b"EMLT"
FORMAT_VERSION = 2
HEADER = "<4sBBBBHHHHIIIIbbHI"
HEADER_BYTES = 40
# Version 3, 28 bytes (written whenever the counts fit 16 bits): magic, version, kind |
# features << 1 | layout << 3, leaf_shift, leaf_bits, then HEADER's counts from n_features to
# child_base in 16 bits. Its version and size are literals below: each module global costs the
# runtime's RAM.
SHORT_HEADER = "<4sBBbbHHHHHHHHHH"
LAYOUT_SMALL = 0
LAYOUT_LARGE = 1
LAYOUT_TINY = 2
LAYOUT_PACKED = 3
_LAYOUT_NAMES = ("small", "large", "tiny", "packed")
# (feature, root, child) widths in bytes.
_WIDTHS = ((1, 2, 2), (2, 4, 4), (1, 2, 1))
# Layout table slots (see emltrees_kernels): section i's byte offset goes to h[_SECTIONS[i]].
# The table is the head of the work buffer; cells 24 .. 27 are the machine-code walkers'
# scratch, 28 .. 31 a packed file's field widths: fb, tb, lb, word bytes | table << 8.
_SECTIONS = (4, 5, 6, 7, 8, 9, 15, 16, 19)
_LAYOUT_TABLE = 32
# What trees/quantise.py writes for learned int16 scales: |offset| <= 2**29 and |shift| <= 120
# keep emlab_quant's 32-bit arithmetic exact.
_QUANT_OFFSET = 1 << 29
_QUANT_SHIFT = 120
# A file may name more classes than it has leaf values (a class no tree ever votes for) only
# up to this many: beyond, the header's count is not backed by the file (each class costs a
# 4-byte sum on the device).
_FREE_OUTPUTS = 256


def _align4(n):
    return (n + 3) & ~3


def packing(code):
    """A packed file's node fields (the header's packing word): feature, threshold and left
    code bits, word bytes, threshold table (see emlearn_lab/trees/packing.py)."""
    return code & 15, (code >> 4) & 31, (code >> 9) & 15, 2 + ((code >> 13) & 3), code >> 15


def section_sizes(layout, features, n_features, n_trees, n_nodes, n_leaves, n_cells, dense,
                  code=0, n_thr=0):
    """Byte sizes of the nine sections (before alignment). Packed files (layout 3): roots,
    node words (low 16 bits, or all 32), threshold table (n_thr keys), table offsets, the
    words' top bytes (3-byte words)."""
    tw = 4 if features == FEATURES_F32 else 2
    if layout == LAYOUT_PACKED:
        wb, table = packing(code)[3:]
        nodes = (n_trees * 2, n_nodes * (4 if wb == 4 else 2), n_thr * tw,
                 (n_features + 1) * 2 if table else 0, n_nodes if wb == 3 else 0)
    else:
        fw, rw, cw = _WIDTHS[layout]
        nodes = (n_trees * rw, n_nodes * fw, n_nodes * tw, n_nodes * cw, n_nodes * cw)
    return nodes + (0 if dense else (n_leaves + 1) * 4, 0 if dense else n_cells * 2,
                    n_cells * (1 if dense else 4),
                    4 * n_features + _align4(n_features) if features == FEATURES_Q16 else 0)


class ModelFileError(ValueError):
    pass


def _corrupt(what):
    # One prefix and remedy for every corrupt-file message (one copy in the module's code).
    return ModelFileError("corrupt model file: %s: deploy the model again" % what)


class Trees(emlab_common.Model):
    """A tree ensemble loaded from an emlearn_lab model file (see load())."""

    def __init__(self, header, blob, ties_path=None):
        (magic, version, kind, features, layout, n_features, n_outputs, n_trees,
         n_thr, n_nodes, n_leaves, n_cells, leaf_max, leaf_shift, leaf_bits, code,
         base) = header
        dense = leaf_bits >= 0
        self.n_nodes = n_nodes
        self.n_leaves = n_leaves
        self._blob = blob
        offsets = []
        off = 0
        for size in section_sizes(layout, features, n_features, n_trees, n_nodes, n_leaves,
                                  n_cells, dense, code, n_thr):
            offsets.append(off)
            off += _align4(size)
        thumb = thumb_tables(_k)
        # Thumb walkers: a dense model's non-zero leaf values, listed (leaf_entries).
        listed = _nonzero(blob, offsets[7], n_cells) if dense and thumb else -1
        # One buffer: the layout table, then keys[n_features], sums[n_outputs] and the leaf
        # reached per tree[n_trees] (then the listed leaves); the kernels take it as one
        # argument.
        cells = _LAYOUT_TABLE + n_features + n_outputs + n_trees
        h = array.array("i", bytes(4 * (cells + (n_leaves + 1 + listed if listed >= 0
                                                  else 0))))
        h[0] = n_trees
        h[1] = n_nodes
        h[2] = n_outputs
        h[3] = n_features
        for i in range(len(offsets)):
            h[_SECTIONS[i]] = offsets[i]
        h[10] = _LAYOUT_TABLE
        h[11] = _LAYOUT_TABLE + n_features
        h[12] = n_leaves
        h[13] = 0 if features == FEATURES_F32 else 1
        h[17] = n_cells
        h[18] = base
        h[20] = layout | (features << 2) | (dense << 4)  # for the bytecode kernels
        nodes = _LAYOUT_NAMES[layout]
        if layout == LAYOUT_PACKED:
            fb, tb, lb, wb, table = packing(code)
            h[28], h[29], h[30], h[31] = fb, tb, lb, wb | (table << 8)
            nodes += "%d%s" % (8 * wb, "t" if table else "r")
        name = "forest_%s%d%s" % (nodes, 32 if features == FEATURES_F32 else 16,
                                  "d" if dense else "s")
        # Leaf sums (see check_leaves). A classifier's sparse leaf holds its class
        # probabilities times 2**leaf_shift, each rounded by at most half a unit (twice when
        # compression re-rounds them): they sum to 2**leaf_shift within n_outputs (or to 0, a
        # leaf no sample weighted); allowed: 2 * n_outputs. Dense leaves are normalised by
        # their sum on the device, which must not be 0.
        if dense:
            h[21], h[22], h[23] = 1, n_outputs * leaf_max, 0
        elif kind == KIND_CLASSIFIER:
            one = 1 << leaf_shift
            h[21], h[22], h[23] = max(1, one - 2 * n_outputs), one + 2 * n_outputs, 1
        # Near-tie margin: each tree's leaf values were rounded by at most half a unit.
        h[14] = n_trees + 1 if ties_path else 0
        self._h = h
        # Validation: after these three checks no walk can loop or leave its sections (the
        # proof is in emltrees_kernels.py); the walkers themselves check nothing.
        bad = check_table(blob, h, n_thr) if layout == LAYOUT_PACKED else -1
        if bad < 0:
            bad = _k.check_nodes(blob, h, layout)
        if bad >= 0:
            raise _corrupt("node/root %d has an index out of range or a child that does not "
                           "follow its parent" % bad)
        lo = 0 if kind == KIND_CLASSIFIER else -leaf_max
        bad = _k.check_leaves(blob, h, lo, leaf_max)
        if bad >= 0:
            raise _corrupt("leaf %d has a value outside [%d, %d], a class out of range or out "
                           "of order, bad offsets%s" % (bad, lo, leaf_max, "" if h[22] == 0
                                                        else " or a bad sum"))
        if features == FEATURES_Q16:
            bad = _quantiser_check()(blob, h, _QUANT_OFFSET, _QUANT_SHIFT)
            if bad >= 0:
                raise _corrupt("the quantiser of feature %d has an offset beyond +-2**29 or a "
                               "shift beyond +-%d" % (bad, _QUANT_SHIFT))
        kernel = getattr(_k, name, None) or getattr(_k, "forest", None)
        if kernel is None:
            raise ModelFileError("this runtime has no %s kernel (it was built for another "
                                 "model file layout): deploy this model to get it" % name)
        self._kernel = kernel      # for emlab_detect's direct call
        if listed >= 0:
            leaf_entries(blob, h, cells)
        quant = None
        if features == FEATURES_Q16 and thumb:
            # The Thumb walker compares a float32 row's keys with each node's float32 key
            # (threshold_keys): h[19] now locates those keys, the quantiser is not needed.
            h[19] = threshold_keys(blob, h, layout, off)
        elif features == FEATURES_Q16:
            # The other kernels take int16 rows: float32 ones are quantised first.
            quant = memoryview(blob)[h[19]:]
        settle = None
        if ties_path:
            settle = emlab_common.tie_resolver(ties_path, n_outputs, n_trees, n_leaves, h,
                                               h[11] + n_outputs,
                                               getattr(_k, "settle_f64", None))
        predict, scores = emlab_common.bind(
            n_features, features, kind, n_outputs, n_trees, leaf_shift, kernel, h, blob, h,
            h[11], settle, quant, getattr(_k, "bind_predict", None))
        emlab_common.Model.__init__(self, n_features, features, kind, n_outputs, n_trees,
                                    leaf_shift, predict, scores, dense)


def thumb_tables(kernels):
    """Whether these kernels are the Thumb walkers, which take two tables built at load: a
    learned-scale int16 model's float32 keys per node (threshold_keys: its blob carries 4
    bytes per node more, see load()), and a dense model's leaves as lists of their non-zero
    values (leaf_entries)."""
    return getattr(kernels, "THUMB", False)


def _nonzero(blob, at, n):
    count = 0
    for i in range(at, at + n):
        if blob[i]:
            count += 1
    return count


def leaf_entries(blob, h, cell):
    """Write a dense model's leaves into h[cell:] as lists of their non-zero values, where
    the Thumb walker adds them as it adds a sparse model's (the same sums: a zero adds
    nothing), in one word each: 4 * class << 8 | value (values are uint8). h[cell + l] is
    the byte offset of leaf l's first word from the first one (n_leaves + 1 of them), the
    words follow. h[9] and h[16], the dense file's (empty) leaf starts and its values, then
    hold the cell indices of both lists instead. Every dense leaf has a non-zero value
    (check_leaves), so the walker's per-leaf loop runs at least once."""
    n_leaves = h[12]
    no = h[2]
    values = h[16]
    first = cell + n_leaves + 1
    k = first
    for n in range(n_leaves):
        h[cell + n] = 4 * (k - first)
        at = values + n * no
        for c in range(no):
            v = blob[at + c]
            if v:
                h[k] = (c << 10) | v
                k += 1
    h[cell + n_leaves] = 4 * (k - first)
    h[9] = cell
    h[16] = first


def threshold_keys(blob, h, layout, at):
    """Write each node's float32 key (emlab_common.threshold_key) as a uint32 at blob[at:],
    from its feature's quantiser and its uint16 threshold; returns at. Node by node, so
    loading needs no buffer beyond the blob."""
    n_features = h[3]
    q = h[19]
    params = [(struct.unpack_from("<i", blob, q + 4 * f)[0],
               struct.unpack_from("<b", blob, q + 4 * n_features + f)[0])
              for f in range(n_features)]
    wide = layout == LAYOUT_LARGE
    fmt = "<H" if wide else "<B"
    fw = 2 if wide else 1
    key = emlab_common.threshold_key
    if layout == LAYOUT_PACKED:
        # The bytecode twin decodes the node words; imported for this loop only (it is ~3.5
        # kB of heap), unless the runtime already runs on it.
        import sys
        kept = "emltrees_pure" in sys.modules
        from emltrees_pure import packed_node
        if not kept:
            sys.modules.pop("emltrees_pure", None)
    for n in range(h[1]):
        if layout == LAYOUT_PACKED:
            f, t = packed_node(blob, h, n)[:2]
        else:
            f = struct.unpack_from(fmt, blob, h[5] + fw * n)[0]
            t = struct.unpack_from("<H", blob, h[6] + 2 * n)[0]
        offset, shift = params[f]
        hi, lo = key(t, offset, shift)
        struct.pack_into("<HH", blob, at + 4 * n, lo, hi)
    return at


def check_table(blob, h, n_thr):
    """A packed file's threshold table: offsets from 0 to n_thr, never decreasing (the node
    checks then bound each index by its feature's run); without offsets, the smallest key plus
    the largest offset a node can hold stays below 2**32 (no walker's sum wraps). Returns -1,
    or n_nodes if bad. In 16-bit halves: a port may have no integers beyond 2**30."""
    if not h[31] >> 8:
        if h[13]:
            return -1           # uint16 keys: below 2**16 + 2**31
        tb = h[29]
        lo, hi = struct.unpack_from("<HH", blob, h[6])
        room_hi, room_lo = 0xFFFF - hi, 0xFFFF - lo
        need_hi = (1 << (tb - 16)) - 1 if tb > 16 else 0
        need_lo = 0xFFFF if tb >= 16 else (1 << tb) - 1
        if room_hi > need_hi or (room_hi == need_hi and room_lo >= need_lo):
            return -1
        return h[1]
    prev = 0
    for f in range(h[3] + 1):
        at = struct.unpack_from("<H", blob, h[7] + 2 * f)[0]
        if at < prev or (f == 0 and at) or at > n_thr:
            return h[1]
        prev = at
    return -1 if prev == n_thr else h[1]


def _quantiser_check():
    # The bytecode kernels carry their own; the native one ships with the native quantiser.
    check = getattr(_k, "check_quantiser", None)
    if check is None:
        try:
            from emlab_quant import check_quantiser as check
        except (ImportError, SyntaxError, ValueError):
            from emltrees_pure import check_quantiser as check
    return check


def parse_header(data):
    """Either header form (version byte 2: the long one) as the long one's fields, checked."""
    long = data[4:5] == b"\x02"
    need = HEADER_BYTES if long else 28
    if len(data) < need:
        raise _corrupt("%d bytes, shorter than the %d-byte header" % (len(data), need))
    header = struct.unpack(HEADER if long else SHORT_HEADER, data[:need])
    if header[0] != MAGIC:
        raise ModelFileError("not an emlearn_lab tree model (magic %r)" % (header[0],))
    if not long:
        if header[1] != 3:
            raise ModelFileError("model format version %d, this runtime reads versions 2 and 3:"
                                 " redeploy the runtime" % header[1])
        # The flags byte: kind | features << 1 | layout << 3; a bit above them reads as a bad
        # kind, refused below.
        f = header[2]
        header = header[:2] + (f & 1 | f >> 5 << 1, f >> 1 & 3, f >> 3 & 3) + header[5:13] + \
            header[3:5] + header[13:]
    (magic, version, kind, features, layout, n_features, n_outputs, n_trees,
     n_thr, n_nodes, n_leaves, n_cells, leaf_max, leaf_shift, leaf_bits, code, base) = header
    if kind > KIND_REGRESSOR or features > FEATURES_Q16 or layout > LAYOUT_PACKED \
            or leaf_bits > 8 or leaf_bits < -1:
        raise _corrupt("bad kind/features/layout/leaf_bits byte")
    if not (n_features and n_outputs and n_trees and n_leaves):
        raise _corrupt("zero features, outputs, trees or leaves")
    # The sections' sizes are checked against the file by load(); n_outputs is the one count
    # that sizes no section of a sparse file, yet the device allocates a sum per output.
    if kind == KIND_REGRESSOR and n_outputs != 1:
        raise _corrupt("a regressor with %d outputs (expected 1)" % n_outputs)
    if leaf_bits < 0 and n_outputs > max(_FREE_OUTPUTS, n_cells):
        raise _corrupt("%d outputs but %d leaf values (at most %d classes, or one per value)"
                       % (n_outputs, n_cells, _FREE_OUTPUTS))
    if layout == LAYOUT_PACKED:
        fb, tb, lb, wb, table = packing(code)
        rb = 8 * wb - fb - tb - lb
        if wb > 4 or rb < 1 or rb > 31 or not n_nodes or n_nodes + n_leaves > 65535 \
                or not (table or n_thr == 1):
            raise _corrupt("bad packed node widths or counts")
        top = (1 << rb) - 1
    elif code:
        raise _corrupt("node widths in a file of unpacked nodes")
    elif layout != LAYOUT_LARGE and (n_features > 256 or n_nodes + n_leaves > 65535):
        raise _corrupt("counts too large for the small layout")
    else:
        top = (255, 65535, (1 << 31) - 1)[(LAYOUT_TINY, LAYOUT_SMALL,
                                            LAYOUT_LARGE).index(layout)]
    if base < 1 or base > top or n_leaves > top - base + 1:
        raise _corrupt("bad child base for the %s layout" % _LAYOUT_NAMES[layout])
    if leaf_bits >= 0 and (kind != KIND_CLASSIFIER or n_cells != n_leaves * n_outputs
                           or leaf_max > 255):
        raise _corrupt("dense leaves need a classifier with n_leaves * n_outputs values of "
                       "at most 255")
    if leaf_max >= (1 << 31) // n_trees or leaf_shift > 30 or leaf_shift < -30:
        raise _corrupt("leaf range overflows int32 sums")
    if kind == KIND_CLASSIFIER and leaf_shift < 0:
        raise _corrupt("a classifier's leaf_shift is %d (expected 0 .. 30)" % leaf_shift)
    return header


def payload_bytes(header):
    sizes = section_sizes(header[4], header[3], header[5], header[7], header[9], header[10],
                          header[11], header[14] >= 0, header[15], header[8])
    return sum(_align4(s) for s in sizes)


def _check_work_heap(header):
    # n_features sizes no section of a float32 or int16 file, yet the device allocates a work
    # cell per feature (and the caller a row of as many): a count whose buffers exceed this
    # device's whole heap cannot be a model meant for it. Below that, a MemoryError stays a
    # MemoryError (the host resets a fragmented heap and retries).
    import gc
    need = 4 * (_LAYOUT_TABLE + header[5] + header[6] + header[7]) + 4 * header[5]
    heap = gc.mem_free() + gc.mem_alloc()
    if need > heap:
        raise ModelFileError("model file asks for %d features, %d outputs and %d trees: %d "
                             "bytes of buffers, more than this device's whole heap (%d "
                             "bytes): a corrupt header, or a model too wide for this device"
                             % (header[5], header[6], header[7], need, heap))


def load(path, ties_path=None):
    """Load and validate a model file. Raises ValueError (ModelFileError) if it is corrupt.

    ties_path: the model's float64 leaf probabilities (written by deploy for forest
    classifiers); with it, near ties are settled exactly as scikit-learn's float64 average."""
    import os
    file_bytes = os.stat(path)[6]
    with open(path, "rb") as f:
        head = f.read(28)
        if head[4:5] == b"\x02":
            head += f.read(HEADER_BYTES - 28)
        header = parse_header(head)
        size = payload_bytes(header)
        # Compare with the real file size before allocating: a corrupt header must not be
        # able to ask for more heap than the file holds.
        if size != file_bytes - len(head):
            raise _corrupt("%d payload bytes, header says %d" % (file_bytes - len(head), size))
        _check_work_heap(header)
        # Thumb walkers: room for a learned-scale int16 model's float32 keys after the file.
        keys = 4 * header[9] if header[3] == FEATURES_Q16 and thumb_tables(_k) else 0
        blob = bytearray(size + keys)
        if f.readinto(memoryview(blob)[:size] if keys else blob) != size:
            raise _corrupt("short read")
    return Trees(header, blob, ties_path)
