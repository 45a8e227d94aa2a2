"""A TreeModel as the C arrays and descriptor fields of ``eml_lab_trees_model``.

The arrays use the smallest integer types that hold their values (see csrc/eml_lab_trees.h),
and every choice below defaults to the smaller encoding (see :class:`Layout`):

- Nodes, "split": one array per field (feature, threshold or an index into the distinct
  thresholds, left, right), each 1, 2 or 4 bytes wide: every field is one plain load.
  "packed": one 8/16/32-bit word per node holding feature, threshold index, left and right;
  smaller when the fields are not byte-sized, a few shifts slower. A child code below
  ``child_base`` is a forward step to a decision node, ``child_base + r`` leaf r (TreeModel
  nodes always have their children after them).
- Leaves, "sparse": leaf r's cells are ``start[r]`` .. ``start[r + 1] - 1``, each
  ``class | value index << class_bits`` into a table of the distinct (int32 value, float64
  probability) pairs, or ``values[cell]`` directly when that is smaller. Every leaf has at
  least one cell. "dense" (compressed classifiers): uint8 rows of n_outputs.
  "single": one int32 value per leaf (single-output models).
"""
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import InputError, UnsupportedModelError
from ..trees.model import TreeModel

__all__ = ["Layout", "CTables", "tables", "leaf_tables", "FIELDS", "features_kind",
           "has_tie_path"]

FEATURES = {"float32": 0, "keys": 1, "int16": 2, "quantised": 3, "bits": 4}
LEAVES = {"sparse": 0, "dense": 1, "single": 2}
# Order of eml_lab_trees_model's members.
FIELDS = ("features", "layout", "leaves", "feature_bytes", "tindex_bytes", "child_bytes",
          "root_bytes", "start_bytes", "cell_bytes", "feature_bits", "threshold_bits",
          "child_bits", "class_bits", "value_index", "leaf_shift", "n_outputs", "n_trees",
          "n_nodes", "child_base", "tie_margin", "tie_sure", "nodes", "thresholds", "tindex",
          "left", "right", "roots", "start", "cells", "values", "dense", "proba", "q_offset",
          "q_shift")
_UINT = {1: "uint8_t", 2: "uint16_t", 4: "uint32_t"}
_SIZES = {"double": 8, "int32_t": 4, "uint32_t": 4, "int16_t": 2, "uint16_t": 2, "int8_t": 1,
          "uint8_t": 1}
# Precomputed float32 keys cost 4 bytes of stack per feature; beyond this they are computed
# at each node instead.
MAX_KEY_SCRATCH_BYTES = 512
# The integer float64 emulation handles normal numbers; sums and quotients of probabilities
# at least this large stay normal.
_MIN_PROBA = 2.0 ** -960


@dataclass(frozen=True)
class Layout:
    """Choices of the table form; "auto" takes the smaller encoding (split nodes, direct
    thresholds and dense leaves when sizes are equal: they are faster).

    nodes : "split" or "packed"
    thresholds : split nodes: "index" (into the distinct thresholds) or "direct"
    leaves : compressed classifiers: "dense" or "sparse"
    values : sparse leaves: "dict" (index into the distinct values) or "direct"
    keys : float32 features: precompute every key once per predict (True), or compute them at
        each node (False); None: no keys when every threshold is >= +0 (the float32 bits are
        compared as int32, same order), else precompute them when that takes at most 512
        bytes of stack.
    """

    nodes: str = "auto"
    thresholds: str = "auto"
    leaves: str = "auto"
    values: str = "auto"
    keys: bool | None = None

    def __post_init__(self):
        allowed = {"nodes": ("split", "packed"), "thresholds": ("index", "direct"),
                   "leaves": ("dense", "sparse"), "values": ("dict", "direct")}
        for name, ok in allowed.items():
            v = getattr(self, name)
            if v not in ("auto",) + ok:
                raise InputError(f"Layout {name} must be one of {('auto',) + ok}, got {v!r}")


@dataclass
class CTables:
    """Descriptor fields (ints, or the suffix of an array for pointers) and the arrays
    (suffix -> (C type, values))."""

    fields: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)

    def nbytes(self) -> int:
        return sum(_SIZES[t] * max(len(v), 1) for t, v in self.arrays.values())


def _bits(v) -> int:
    return int(v).bit_length() if v > 0 else 0


def _width(max_value) -> int:
    """Bytes of the smallest unsigned type holding 0..max_value."""
    return 1 if max_value <= 0xFF else 2 if max_value <= 0xFFFF else 4


def _pick(choice: str, first: str, first_bytes: int, second_bytes: int) -> bool:
    """Is ``first`` chosen? Forced by ``choice``, else the smaller (``first`` when equal)."""
    return choice == first or (choice == "auto" and first_bytes <= second_bytes)


def features_kind(model: TreeModel, layout: Layout = Layout()) -> str:
    if model.quantiser is not None:
        return "quantised"
    if model.features == "int16":
        return "int16"
    keys = layout.keys
    if keys is None:
        if np.all(np.asarray(model.threshold) >= 0x80000000):    # keys of t >= +0
            return "bits"
        keys = 4 * model.n_features <= MAX_KEY_SCRATCH_BYTES
    return "keys" if keys else "float32"


def has_tie_path(model: TreeModel) -> bool:
    return bool(model.tie_margin) and model.leaf_proba is not None and model.n_outputs > 1


def leaf_tables(model: TreeModel, layout: Layout = Layout(), *,
                derive_values: bool = False) -> CTables:
    """Leaf arrays and their descriptor fields (leaf r is referenced as r).

    ``derive_values``: sparse leaves with probabilities store no int32 values when each equals
    ``rint(proba * 2**leaf_shift)`` (the runtime recomputes it, eml_lab_trees_fixed): smaller,
    a few instructions more per cell (the inline form's -Os loop).
    """
    out = CTables()
    margin = model.tie_margin if has_tie_path(model) else 0
    # No two sums can both exceed half the largest possible total: a best sum above
    # (total + margin) / 2 has no rival within the margin.
    total = model.n_trees * int(model.leaves.sum(axis=1).max(initial=0))
    out.fields.update(n_outputs=model.n_outputs, n_trees=model.n_trees, tie_margin=margin,
                      tie_sure=min((total + margin) // 2, 2**31 - 1))
    L = model.leaves
    if model.n_outputs == 1:
        out.arrays["values"] = ("int32_t", L[:, 0])
        out.fields.update(leaves=LEAVES["single"], values="values")
        return out
    sparse = _sparse(model, layout, derive_values)
    if model.leaf_bits is not None:
        if L.min(initial=0) < 0 or L.max(initial=0) > 255:
            raise UnsupportedModelError("compressed leaves must lie in 0..255")
        if _pick(layout.leaves, "dense", L.size, sparse.nbytes()):
            out.arrays["dense"] = ("uint8_t", L.reshape(-1))
            out.fields.update(leaves=LEAVES["dense"], dense="dense")
            return out
    out.arrays.update(sparse.arrays)
    out.fields.update(sparse.fields)
    return out


def _derivable(vals, probs, shift: int) -> bool:
    """Does every value equal rint(proba * 2**shift), with the last bit of every nonzero proba
    1 to 63 bits below the units of the scaled value (what eml_lab_trees_fixed assumes)?"""
    if not np.array_equal(vals, np.rint(probs * 2.0 ** shift)):
        return False
    _, exp = np.frexp(probs[probs != 0])
    k = 53 - exp.astype(np.int64) - shift      # probs * 2**shift = mantissa * 2**-k
    return bool(np.all((k >= 1) & (k <= 63)))


def _sparse(model: TreeModel, layout: Layout, derive_values: bool = False) -> CTables:
    out = CTables()
    L = model.leaves
    P = model.leaf_proba if has_tie_path(model) else None
    if P is not None and np.any((P != 0) & ~(P >= _MIN_PROBA)):
        raise UnsupportedModelError("leaf probabilities must be 0 or at least 2**-960 for "
                                    "the exact near-tie path")
    nz = L != 0
    if P is not None:
        nz |= P != 0          # the tie path needs every class scikit-learn gives weight to
    nz[~nz.any(axis=1), 0] = True   # a leaf of zeros keeps one (zero) cell
    rows, cols = np.nonzero(nz)     # row-major: a leaf's cells are contiguous
    n_cells = len(rows)
    start = np.searchsorted(rows, np.arange(model.n_leaves + 1))
    vals = L[rows, cols]
    probs = P[rows, cols] if P is not None else None
    derive = derive_values and P is not None and _derivable(vals, probs, model.leaf_shift)
    pair = np.column_stack([vals] + ([probs.view(np.int64)] if P is not None else []))
    uniq, where, inverse = np.unique(pair, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    cb = _bits(model.n_outputs - 1)
    vb = _bits(len(uniq) - 1)
    per_value = (0 if derive else 4) + (8 if P is not None else 0)
    dict_bytes = _width((1 << (cb + vb)) - 1) * n_cells + len(uniq) * per_value
    direct_bytes = _width((1 << cb) - 1) * n_cells + n_cells * per_value
    use_dict = _pick(layout.values, "dict", dict_bytes, direct_bytes) and cb + vb <= 32
    cells = cols.astype(np.int64)
    if use_dict:
        cells = cells | (inverse.astype(np.int64) << cb)
        vals = vals[where]
        probs = probs[where] if probs is not None else None
    cell_bytes = _width((1 << (cb + (vb if use_dict else 0))) - 1)
    out.arrays["start"] = (_UINT[_width(n_cells)], start)
    out.arrays["cells"] = (_UINT[cell_bytes], cells)
    out.fields.update(leaves=LEAVES["sparse"], start="start", cells="cells",
                      cell_bytes=cell_bytes, start_bytes=_width(n_cells), class_bits=cb,
                      value_index=int(use_dict))
    if derive:
        out.fields["leaf_shift"] = model.leaf_shift
    else:
        out.arrays["values"] = ("int32_t", vals)
        out.fields["values"] = "values"
    if probs is not None:
        out.arrays["proba"] = ("double", probs)
        out.fields["proba"] = "proba"
    return out


def tables(model: TreeModel, layout: Layout = Layout()) -> CTables:
    """Every array of the table form and the descriptor fields.

    Raises
    ------
    UnsupportedModelError
        The model does not fit the layout asked for, or has more than 65535 outputs.
    """
    if model.n_outputs > 65535:
        raise UnsupportedModelError(f"{model.n_outputs} outputs: at most 65535 are supported")
    out = leaf_tables(model, layout)
    nn = model.n_nodes
    feats = features_kind(model, layout)
    idx = np.arange(nn)
    steps = [c[c < nn] - idx[c < nn] for c in (model.left, model.right)]
    base = max((int(s.max(initial=0)) for s in steps), default=0) + 1
    left, right = (np.where(c < nn, c - idx, base + c - nn) for c in (model.left, model.right))
    if feats == "bits":       # keys of thresholds >= +0: the bits are the key's low 31
        thr, thr_type = model.threshold & 0x7FFFFFFF, "int32_t"
    elif feats in ("keys", "float32"):
        thr, thr_type = model.threshold, "uint32_t"
    else:
        thr, thr_type = model.threshold - 32768, "int16_t"
    roots = model.roots
    out.arrays["roots"] = (_UINT[_width(roots.max(initial=0))], roots)
    out.fields.update(features=FEATURES[feats], n_nodes=nn, roots="roots",
                      root_bytes=_width(roots.max(initial=0)), child_base=base)
    uniq, tidx = np.unique(thr, return_inverse=True)
    tidx = tidx.reshape(-1)
    tsize = _SIZES[thr_type]
    fb, tb = _bits(model.n_features - 1), _bits(len(uniq) - 1)
    cmax = max(left.max(initial=0), right.max(initial=0))
    cb = _bits(cmax)
    packed_bits = fb + tb + 2 * cb
    index_bytes = len(uniq) * tsize + nn * _width(len(uniq) - 1)
    tindex = not _pick(layout.thresholds, "direct", nn * tsize, index_bytes)
    split_bytes = nn * (_width(model.n_features - 1) + 2 * _width(cmax)) + (
        index_bytes if tindex else nn * tsize)
    packed_bytes = nn * _width((1 << packed_bits) - 1) + len(uniq) * tsize
    if layout.nodes == "packed" and packed_bits > 32:
        raise UnsupportedModelError(f"the packed layout needs {packed_bits} bits per node, "
                                    "more than 32: use Layout(nodes='split')")
    if packed_bits <= 32 and not _pick(layout.nodes, "split", split_bytes, packed_bytes):
        words = model.feature | (tidx << fb) | (left << (fb + tb)) | (right << (fb + tb + cb))
        nb = _width((1 << packed_bits) - 1)
        out.arrays["nodes"] = (_UINT[nb], words)
        out.arrays["thresholds"] = (thr_type, uniq)
        out.fields.update(layout=1, feature_bytes=nb, feature_bits=fb, threshold_bits=tb,
                          child_bits=cb, nodes="nodes", thresholds="thresholds")
        return out
    fbytes, cbytes = _width(model.n_features - 1), _width(cmax)
    out.arrays["nodes"] = (_UINT[fbytes], model.feature)
    if tindex:
        out.arrays["thresholds"] = (thr_type, uniq)
        out.arrays["tindex"] = (_UINT[_width(len(uniq) - 1)], tidx)
        out.fields.update(tindex="tindex", tindex_bytes=_width(len(uniq) - 1))
    else:
        out.arrays["thresholds"] = (thr_type, thr)
    out.arrays.update(left=(_UINT[cbytes], left), right=(_UINT[cbytes], right))
    out.fields.update(layout=0, feature_bytes=fbytes, child_bytes=cbytes, nodes="nodes",
                      thresholds="thresholds", left="left", right="right")
    return out
