"""Packed decision nodes: the model file's "packed" layout (layout byte 3).

Each decision node is one little-endian word of 2, 3 or 4 bytes holding four bit fields sized
to the model, lowest bits first:

- feature (``fb`` bits);
- threshold (``tb`` bits): the key's offset from the smallest threshold key ("offset": key =
  ``table[0] + i``, a one-key table), or an index into the feature's run of a table of the
  distinct threshold keys, grouped by feature ("table": key = ``table[offsets[feature] +
  i]``), whichever makes the smaller file;
- left code (``lb`` bits): 0 is the next node (an implicit left child: the nodes are stored
  depth first, left subtree first, so a decision node's left child, when it is one, follows
  it), ``l >= 1`` leaf ``l - 1``;
- right code (the remaining top bits): below ``base`` a step forward to a later decision node,
  ``base + i`` leaf i.

Sources: the implicit left child is the order scikit-learn's tree builder already writes
(depth first, so ``children_left[n] == n + 1`` for every split node), and sizing each field
to the model is plain bit packing. A forest's distinct thresholds per feature are usually far
fewer than 2**16 (after int16 quantisation, often a few dozen), so an index into them is
shorter than the key. The device walks these words in place (device_src/emltrees_forest.tmpl,
runtime/thumb_walker.py, runtime/rv32_walker.py): no node is unpacked into RAM.

A 3-byte word is stored as a uint16 section (its low half) and a uint8 section (its top
byte), so every load is aligned.
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["Packing", "PackedNodes", "pack", "unpack", "check_packed"]

WORD_BYTES = (2, 3, 4)
_MAX_FB, _MAX_TB, _MAX_LB = 15, 31, 15        # the header's field widths (see Packing.code)
MAX_COUNT = 65535                             # roots and table offsets are uint16


def _bits(n) -> int:
    return int(n).bit_length()


@dataclass(frozen=True)
class Packing:
    """Bit widths of a packed node word (the header's uint16 ``packing`` field)."""
    fb: int
    tb: int
    lb: int
    word_bytes: int
    table: bool

    @property
    def rb(self) -> int:
        return 8 * self.word_bytes - self.fb - self.tb - self.lb

    def code(self) -> int:
        return (self.fb | self.tb << 4 | self.lb << 9 | (self.word_bytes - 2) << 13
                | int(self.table) << 15)

    @classmethod
    def from_code(cls, code: int) -> "Packing":
        return cls(code & 15, (code >> 4) & 31, (code >> 9) & 15, 2 + ((code >> 13) & 3),
                   bool(code >> 15))

    def valid(self) -> bool:
        return self.word_bytes in WORD_BYTES and self.rb >= 1


@dataclass
class PackedNodes:
    """A model's decision nodes, packed (``pack``)."""
    packing: Packing
    words: np.ndarray          # uint64 words, one per decision node, in the file's order
    table: np.ndarray          # the threshold table's keys (offset encoding: the smallest)
    offsets: np.ndarray        # uint16, n_features + 1 (empty for the offset encoding)
    roots: np.ndarray
    base: int

    @property
    def n_nodes(self) -> int:
        return len(self.words)

    def sections(self, threshold_dtype: str) -> tuple:
        """(low words, threshold table, table offsets, high bytes) as the file's arrays."""
        w = self.packing.word_bytes
        low = self.words.astype("<u4" if w == 4 else "<u2")
        high = (self.words >> 16).astype("<u1") if w == 3 else np.zeros(0, "<u1")
        return low, self.table.astype(threshold_dtype), self.offsets.astype("<u2"), high


def _preorder(model) -> np.ndarray | None:
    """The decision nodes the roots reach, depth first, left subtree first, tree by tree
    (nodes no root reaches are left out); None when a node is reached twice."""
    nn = model.n_nodes
    left, right = model.left.tolist(), model.right.tolist()
    order, stack = [], []
    for root in model.roots.tolist():
        if root < nn:
            stack.append(root)
        while stack:
            n = stack.pop()
            order.append(n)
            if right[n] < nn:
                stack.append(right[n])
            if left[n] < nn:
                stack.append(left[n])
    order = np.asarray(order, dtype=np.int64)
    return order if len(np.unique(order)) == len(order) else None


def _section_bytes(n: int, itemsize: int) -> int:
    size = n * itemsize
    return size + (-size % 4)


def pack(model, word_bytes: int | None = None, table: bool | None = None):
    """The model's nodes packed into the smallest file (or with the given word size and
    threshold encoding); returns (PackedNodes, "") or (None, why it cannot be packed)."""
    nn, nf, nl = model.n_nodes, model.n_features, model.n_leaves
    if nn == 0:
        return None, "the model has no decision nodes"
    if nn + nl > MAX_COUNT or nf > MAX_COUNT:
        return None, f"the packed layout holds at most {MAX_COUNT} nodes and leaves"
    order = _preorder(model)
    if order is None:
        return None, "the model's nodes do not form separate trees"
    new_of = np.zeros(nn, dtype=np.int64)
    new_of[order] = np.arange(len(order))
    # Children and roots name decision nodes below nn and leaves from nn on; in the file,
    # leaves start at the number of nodes kept.
    left, right = model.left[order], model.right[order]
    nn, here = len(order), np.arange(len(order))
    if nn == 0:
        return None, "the model has no decision nodes"
    left = np.where(left < model.n_nodes, new_of[np.minimum(left, model.n_nodes - 1)],
                    left - model.n_nodes + nn)
    right = np.where(right < model.n_nodes, new_of[np.minimum(right, model.n_nodes - 1)],
                     right - model.n_nodes + nn)
    feat, thr = model.feature[order].astype(np.int64), model.threshold[order].astype(np.int64)
    lcode = np.where(left < nn, 0, left - nn + 1)
    assert (left[left < nn] == here[left < nn] + 1).all()
    steps = right[right < nn] - here[right < nn]
    base = int(steps.max(initial=0)) + 1
    rcode = np.where(right < nn, 0, base + right - nn)
    rcode[right < nn] = steps
    roots = np.where(model.roots < model.n_nodes,
                     new_of[np.minimum(model.roots, model.n_nodes - 1)],
                     model.roots - model.n_nodes + nn)
    fb, lb, rneed = _bits(nf - 1), _bits(nl), _bits(base + nl - 1)
    tdt = 4 if model.features == "float32" else 2
    options = []
    low = int(thr.min())
    if table in (None, False) and _bits(int(thr.max()) - low) <= _MAX_TB:
        options.append((False, _bits(int(thr.max()) - low), thr - low,
                        np.array([low], np.int64), np.zeros(0, np.int64)))
    if table in (None, True):
        uniq = np.unique(np.stack([feat, thr], axis=1), axis=0)
        counts = np.bincount(uniq[:, 0], minlength=nf)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        index = np.searchsorted(uniq[:, 0] * 2**32 + uniq[:, 1], feat * 2**32 + thr) \
            - offsets[feat]
        options.append((True, _bits(counts.max(initial=1) - 1), index, uniq[:, 1], offsets))
    best, need_min = None, None
    for is_table, tb, tvalue, keys, offsets in options:
        need = fb + tb + lb + rneed
        need_min = need if need_min is None else min(need, need_min)
        sizes = [w for w in WORD_BYTES if 8 * w >= need]
        if word_bytes is not None:
            sizes = [w for w in sizes if w == word_bytes]
        if fb > _MAX_FB or tb > _MAX_TB or lb > _MAX_LB or not sizes:
            continue
        w = sizes[0]
        size = (_section_bytes(nn, 2) + _section_bytes(nn, 1) if w == 3
                else _section_bytes(nn, w))
        if is_table:
            size += _section_bytes(len(keys), tdt) + _section_bytes(nf + 1, 2)
        if best is None or size < best[0]:
            p = Packing(fb, tb, lb, w, is_table)
            words = (feat | tvalue.astype(np.int64) << fb | lcode << (fb + tb)
                     | rcode << (fb + tb + lb)).astype(np.uint64)
            best = (size, PackedNodes(p, words, keys, offsets, roots, base))
    if best is None:
        return None, (f"its fields need {need_min} bits per node (feature {fb}, left {lb}, "
                      f"right {rneed}, the rest the threshold), more than "
                      f"{8 * (word_bytes or 4)}")
    return best[1], ""


def _fields(p: Packing, words: np.ndarray) -> tuple:
    w = words.astype(np.int64)
    f = w & ((1 << p.fb) - 1)
    i = (w >> p.fb) & ((1 << p.tb) - 1)
    lc = (w >> (p.fb + p.tb)) & ((1 << p.lb) - 1)
    rc = w >> (p.fb + p.tb + p.lb)
    return f, i, lc, rc


def join_words(p: Packing, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    low = low.astype(np.int64)
    return low | high.astype(np.int64) << 16 if p.word_bytes == 3 else low


def check_packed(p: Packing, words, table, offsets, n_features: int, n_leaves: int,
                 base: int) -> int:
    """The device loader's node checks (emltrees_kernels.check_packed): -1 if every node is
    valid, else the first bad one (n_nodes: bad table offsets)."""
    nn = len(words)
    if (p.table and (offsets[0] != 0 or offsets[-1] != len(table)
                     or (np.diff(offsets) < 0).any())) or (not p.table and len(table) != 1):
        return nn
    f, i, lc, rc = _fields(p, words)
    n = np.arange(nn)
    bad = f >= n_features
    if p.table:
        fs = np.minimum(f, n_features - 1)
        bad |= i >= offsets[fs + 1] - offsets[fs]
    bad |= np.where(lc == 0, n + 1 >= nn, lc - 1 >= n_leaves)
    bad |= (rc < 1) | np.where(rc < base, rc >= nn - n, rc - base >= n_leaves)
    return int(np.flatnonzero(bad)[0]) if bad.any() else -1


def unpack(p: Packing, words, table, offsets, base: int) -> tuple:
    """(feature, threshold, left, right) in TreeModel's terms from checked packed nodes."""
    nn = len(words)
    f, i, lc, rc = _fields(p, words)
    n = np.arange(nn)
    thr = table[offsets[f] + i] if p.table else (table[0] + i) & 0xFFFFFFFF
    left = np.where(lc == 0, n + 1, nn + lc - 1)
    right = np.where(rc < base, n + rc, nn + rc - base)
    return f, thr, left, right
