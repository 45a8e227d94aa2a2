"""The tree walker in Thumb machine code, for ARM cores (Cortex-M0/M0+/M3/M4/M7).

Viper emits about 31 instructions per node visit on Thumb (it keeps at most two locals in
registers in an .mpy, and materialises every comparison as a 0/1 value before branching);
this walker, written for MicroPython's inline assembler (``@micropython.asm_thumb``), takes
13. It computes exactly what the viper walker of ``emltrees_forest.tmpl`` computes, from the
same validated model file (``emltrees.load`` runs the same checks first), with the same
32-bit integer steps: the same keys, leaves, sums, first-maximum argmax and near-tie flag.
A float32 row of a learned-scale int16 model is not quantised: its float keys are compared
with each node's float32 key (emltrees.threshold_keys, built at load), which sends it the
way its quantised value would go (q(x) <= t exactly when key(x) <= K): the same leaves.

Only Thumb-1 instructions (ARMv6-M), so one source serves the M0 and the M3/M4/M7. The
assembler has no register-offset loads, so those are raw halfwords (thumb_asm.py).

Calling convention (emlab_common.bind): ``forest_NAME(0, w, blob, x)``: r1 = the work buffer
(array('i'): the layout table of emltrees.py, then keys, sums, leaf per tree, then a dense
model's leaves as lists of their non-zero values), r2 = the model blob (then, for a
learned-scale int16 model, its nodes' float32 keys), r3 = the row's buffer. Returns the
class index, or -1 - best on a near tie.
"""

from ..trees.modelfile import TABLE_CHILD_BASE, TABLE_KEYS, TABLE_N_FEATURES, TABLE_N_NODES
from ..trees.modelfile import TABLE_N_OUTPUTS, TABLE_N_TREES, TABLE_ROW_KIND, TABLE_SCRATCH
from ..trees.modelfile import TABLE_SECTION as SECTION
from ..trees.modelfile import TABLE_SUMS, TABLE_TIE_MARGIN
from .thumb_asm import ldr as _ldr
from .thumb_asm import ldrb as _ldrb
from .thumb_asm import ldrh as _ldrh
from .thumb_asm import str_ as _str
from .thumb_asm import uxtb as _uxtb

__all__ = ["thumb_walker_source", "THUMB_ARCHS"]

# mpy-cross -march values whose cores run this code.
THUMB_ARCHS = frozenset({"armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp"})

# Scratch cells of the layout table the walker uses (emltrees.py reserves them).
_T, _BLOB, _ROOTS, _OUT = range(TABLE_SCRATCH, TABLE_SCRATCH + 4)


def _load(width: int, rt: int, base: int, index: int, scratch: int) -> list:
    """rt = base[index] for a `width`-byte unsigned item (index in a register)."""
    if width == 1:
        return [_ldrb(rt, base, index)]
    shift = {2: 1, 4: 2}[width]
    op = _ldrh if width == 2 else _ldr
    return [f"lsl(r{scratch}, r{index}, {shift})", op(rt, base, scratch)]


def _walk(h, feat_bytes: int, root_bytes: int, child_bytes: int, thr_bytes: int,
          thr_cell: int, sfx: str) -> list:
    """Walk every tree: thresholds of thr_bytes at blob + h[thr_cell]; labels end in sfx.
    In: r1 = lr = w, r2 = the blob. Registers: r0 n, r1 feature, r2 keys, r3 thresholds,
    r4 left, r5 child base, r12 right, r6/r7 scratch; t and the bases in the table (lr)."""
    c = ["ldr(r3, [r1, %d])" % h(thr_cell), "add(r3, r3, r2)",
         "ldr(r4, [r1, %d])" % h(SECTION["right"]), "add(r4, r4, r2)", "mov(r12, r4)",
         "ldr(r4, [r1, %d])" % h(SECTION["left"]), "add(r4, r4, r2)",
         "ldr(r5, [r1, %d])" % h(TABLE_CHILD_BASE),
         "ldr(r6, [r1, %d])" % h(SECTION["feature"]), "add(r6, r6, r2)",
         "ldr(r2, [r1, %d])" % h(TABLE_KEYS), "lsl(r2, r2, 2)", "add(r2, r2, r1)",
         "mov(r1, r6)",
         f"label(TREE{sfx})", "mov(r7, lr)",
         "ldr(r6, [r7, %d])" % h(_T), "ldr(r0, [r7, %d])" % h(TABLE_N_TREES), "cmp(r6, r0)",
         f"bge(EXIT{sfx})",
         "add(r0, r6, 1)", "str(r0, [r7, %d])" % h(_T),
         "ldr(r0, [r7, %d])" % h(_ROOTS),
         *_load(root_bytes, 0, 0, 6, 6),
         "ldr(r6, [r7, %d])" % h(TABLE_N_NODES), "cmp(r0, r6)", f"bcs(ROOT_LEAF{sfx})",
         f"label(VISIT{sfx})",
         *_load(feat_bytes, 6, 1, 0, 6),
         "lsl(r6, r6, 2)", _ldr(6, 2, 6),                      # key[feature[n]]
         *_load(thr_bytes, 7, 3, 0, 7),                        # threshold[n]
         "cmp(r6, r7)", f"bhi(GO_RIGHT{sfx})",
         *_load(child_bytes, 7, 4, 0, 7),
         "cmp(r7, r5)", f"bcs(LEAF{sfx})", "add(r0, r0, r7)", f"b(VISIT{sfx})",
         f"label(GO_RIGHT{sfx})", "mov(r6, r12)",
         *_load(child_bytes, 7, 6, 0, 7),
         "cmp(r7, r5)", f"bcs(LEAF{sfx})", "add(r0, r0, r7)", f"b(VISIT{sfx})",
         f"label(ROOT_LEAF{sfx})", "sub(r0, r0, r6)", f"b(STORE{sfx})",
         f"label(LEAF{sfx})", "sub(r0, r7, r5)",
         f"label(STORE{sfx})", "mov(r7, lr)", "ldr(r6, [r7, %d])" % h(_T), "lsl(r6, r6, 2)",
         "ldr(r7, [r7, %d])" % h(_OUT), _str(0, 7, 6), f"b(TREE{sfx})",
         f"label(EXIT{sfx})"]
    return c


def thumb_walker_source(name: str, feat_bytes: int, root_bytes: int, child_bytes: int,
                        thr_bytes: int, dense: bool) -> str:
    """Source of ``forest_<name>`` for one model file layout (see kernels.walker_source)."""
    c = []

    def emit(*lines):
        c.extend(lines)

    h = lambda i: 4 * i          # noqa: E731  byte offset of layout table cell i
    emit("mov(lr, r1)",                              # lr = w for the whole call
         "str(r2, [r1, %d])" % h(_BLOB))
    # -- keys: float32 -> order-preserving uint32; int16 -> x ^ 0x8000 ---------------------
    emit("ldr(r4, [r1, %d])" % h(TABLE_KEYS), "lsl(r4, r4, 2)", "add(r4, r4, r1)",   # r4 = keys
         "ldr(r5, [r1, %d])" % h(TABLE_N_FEATURES))                      # r5 = n_features
    float_keys = ["lsl(r5, r5, 2)", "mov(r6, 1)", "lsl(r6, r6, 31)",
                  "label(FKEYS)", "sub(r5, 4)", "bmi(KEYS_DONE)",
                  _ldr(7, 3, 5), "asr(r0, r7, 31)", "orr(r0, r6)", "eor(r7, r0)",
                  _str(7, 4, 5), "b(FKEYS)"]
    if thr_bytes == 4:
        emit(*float_keys)
    else:
        # h[13] == 2: a float32 row for a learned-scale int16 model: its float keys, walked
        # against the nodes' float32 keys (emltrees.threshold_keys, at h[19]).
        emit("ldr(r0, [r1, %d])" % h(TABLE_ROW_KIND), "cmp(r0, 2)", "beq(FLOAT_ROW)",
             "lsl(r5, r5, 1)", "mov(r6, 128)", "lsl(r6, r6, 8)",
             "label(KEYS)", "sub(r5, 2)", "bmi(KEYS_DONE)",
             _ldrh(7, 3, 5), "eor(r7, r6)", "lsl(r0, r5, 1)",
             _str(7, 4, 0), "b(KEYS)", "label(FLOAT_ROW)", *float_keys)
    emit("label(KEYS_DONE)", "mov(r1, lr)", "ldr(r2, [r1, %d])" % h(_BLOB))
    # -- sums = 0; the leaf-per-tree cells follow them ---------------------------------------
    emit("ldr(r0, [r1, %d])" % h(TABLE_SUMS), "lsl(r0, r0, 2)", "add(r0, r0, r1)",   # r0 = acc
         "ldr(r6, [r1, %d])" % h(TABLE_N_OUTPUTS), "lsl(r6, r6, 2)", "mov(r7, 0)",
         "label(ZERO)", "sub(r6, 4)", "bmi(ZERO_DONE)", _str(7, 0, 6), "b(ZERO)",
         "label(ZERO_DONE)",
         "ldr(r6, [r1, %d])" % h(TABLE_N_OUTPUTS), "lsl(r6, r6, 2)", "add(r6, r6, r0)",
         "sub(r6, 4)", "str(r6, [r1, %d])" % h(_OUT),            # &acc[no] - 4: out[t + 1]
         "ldr(r6, [r1, %d])" % h(SECTION["roots"]), "add(r6, r6, r2)",
         "str(r6, [r1, %d])" % h(_ROOTS),
         "mov(r6, 0)", "str(r6, [r1, %d])" % h(_T))
    # -- walk every tree (learned-scale int16 models: by float keys for a float32 row) -----
    if thr_bytes == 4:
        emit(*_walk(h, feat_bytes, root_bytes, child_bytes, 4, SECTION["threshold"], ""))
    else:
        emit("ldr(r0, [r1, %d])" % h(TABLE_ROW_KIND), "cmp(r0, 2)", "beq(WALK_F)", "b(WALK_I)",
             "label(WALK_F)",
             *_walk(h, feat_bytes, root_bytes, child_bytes, 4, SECTION["quantiser"], "_F"),
             "b(TREES_DONE)",
             "label(WALK_I)",
             *_walk(h, feat_bytes, root_bytes, child_bytes, 2, SECTION["threshold"], ""))
    emit("label(TREES_DONE)")
    # -- add each tree's leaf to the sums; r0 = acc, lr = w ---------------------------------
    emit("mov(r7, lr)", "ldr(r0, [r7, %d])" % h(TABLE_SUMS), "lsl(r0, r0, 2)", "add(r0, r0, r7)",
         "ldr(r6, [r7, %d])" % h(TABLE_N_OUTPUTS), "lsl(r6, r6, 2)", "add(r4, r0, r6)",
         "str(r4, [r7, %d])" % h(_T),                            # next leaf cell
         "ldr(r6, [r7, %d])" % h(TABLE_N_TREES), "lsl(r6, r6, 2)", "add(r6, r6, r4)",
         "mov(r12, r6)",
         "ldr(r5, [r7, %d])" % h(_BLOB))
    if dense:
        # The leaves as lists of their non-zero values (emltrees.leaf_entries, in w): a word
        # 4 * class << 8 | value each; h[16] their first cell, h[9] the leaves' byte offsets.
        emit("ldr(r3, [r7, %d])" % h(SECTION["leaf_value"]), "lsl(r3, r3, 2)", "add(r3, r3, r7)",
             "ldr(r2, [r7, %d])" % h(SECTION["leaf_start"]), "lsl(r2, r2, 2)", "add(r2, r2, r7)",
             "label(LEAF_NEXT)", "mov(r7, lr)", "ldr(r4, [r7, %d])" % h(_T), "mov(r6, r12)",
             "cmp(r4, r6)", "bcs(SUMS_DONE)",
             "ldr(r5, [r4, 0])", "add(r4, 4)", "str(r4, [r7, %d])" % h(_T),
             "lsl(r5, r5, 2)", "add(r5, r5, r2)", "ldr(r6, [r5, 0])", "ldr(r7, [r5, 4])",
             "add(r6, r6, r3)", "add(r7, r7, r3)", "b(CELL_TEST)",      # words r6 .. r7
             "label(CELL)", "ldr(r5, [r6, 0])", "add(r6, 4)",
             "lsr(r1, r5, 8)", _uxtb(5, 5), _ldr(4, 0, 1), "add(r4, r4, r5)", _str(4, 0, 1),
             "label(CELL_TEST)", "cmp(r6, r7)", "bcc(CELL)", "b(LEAF_NEXT)")
    else:
        emit("ldr(r3, [r7, %d])" % h(SECTION["leaf_value"]), "add(r3, r3, r5)",     # values
             "ldr(r2, [r7, %d])" % h(SECTION["leaf_class"]), "add(r2, r2, r5)",     # classes
             "ldr(r1, [r7, %d])" % h(SECTION["leaf_start"]), "add(r1, r1, r5)",     # leaf starts
             "str(r1, [r7, %d])" % h(_ROOTS),
             "label(LEAF_NEXT)", "mov(r7, lr)", "ldr(r4, [r7, %d])" % h(_T), "mov(r6, r12)",
             "cmp(r4, r6)", "bcs(SUMS_DONE)",
             "ldr(r5, [r4, 0])", "add(r4, 4)", "str(r4, [r7, %d])" % h(_T),
             "ldr(r1, [r7, %d])" % h(_ROOTS), "lsl(r5, r5, 2)", "add(r5, r5, r1)",
             "ldr(r6, [r5, 0])", "ldr(r7, [r5, 4])",                       # cells j .. e
             "label(CELL)", "cmp(r6, r7)", "bcs(LEAF_NEXT)",
             "lsl(r1, r6, 1)", _ldrh(1, 2, 1), "lsl(r1, r1, 2)",         # class * 4
             "lsl(r4, r6, 2)", _ldr(4, 3, 4),                              # value
             _ldr(5, 0, 1), "add(r5, r5, r4)", _str(5, 0, 1),
             "add(r6, 1)", "b(CELL)")
    # -- first maximum, then the near-tie flag -----------------------------------------------
    emit("label(SUMS_DONE)", "mov(r7, lr)",
         "ldr(r1, [r7, %d])" % h(TABLE_N_OUTPUTS), "lsl(r1, r1, 2)",
         "mov(r2, 0)", "ldr(r3, [r0, 0])", "mov(r4, 4)",
         "label(MAX)", "cmp(r4, r1)", "bcs(MAX_DONE)", _ldr(5, 0, 4),
         "cmp(r5, r3)", "ble(MAX_NEXT)", "mov(r3, r5)", "mov(r2, r4)",
         "label(MAX_NEXT)", "add(r4, 4)", "b(MAX)",
         "label(MAX_DONE)", "ldr(r6, [r7, %d])" % h(TABLE_TIE_MARGIN), "cmp(r6, 0)", "beq(BEST)",
         "mov(r4, 0)",
         "label(TIE)", "cmp(r4, r1)", "bcs(BEST)", "cmp(r4, r2)", "beq(TIE_NEXT)",
         _ldr(5, 0, 4), "sub(r5, r3, r5)", "cmp(r5, r6)", "ble(NEAR)",
         "label(TIE_NEXT)", "add(r4, 4)", "b(TIE)",
         "label(NEAR)", "lsr(r0, r2, 2)", "mvn(r0, r0)", "b(END)",
         "label(BEST)", "lsr(r0, r2, 2)",
         "label(END)")
    body = "\n".join("    " + line for line in c)
    return (f"@micropython.asm_thumb\ndef forest_{name}(r0, r1, r2, r3) -> int:\n{body}\n")
