"""The tree walker in Thumb machine code, for ARM cores (Cortex-M0/M0+/M3/M4/M7).

Viper emits about 31 instructions per node visit on Thumb (it keeps at most two locals in
registers in an .mpy, and materialises every comparison as a 0/1 value before branching);
this walker, written for MicroPython's inline assembler (``@micropython.asm_thumb``), takes
13. It computes exactly what the viper walker of ``emltrees_forest.tmpl`` computes, from the
same validated model file (``emltrees.load`` runs the same checks first), with the same
32-bit integer steps: the same keys, leaves, sums, first-maximum argmax and near-tie flag.

Only Thumb-1 instructions (ARMv6-M), so one source serves the M0 and the M3/M4/M7. The
assembler has no register-offset loads, so those are raw halfwords (thumb_asm.py).

Calling convention (emlab_common.bind): ``forest_NAME(0, w, blob, x)``: r1 = the work buffer
(array('i'): the layout table of emltrees.py, then keys, sums, leaf per tree), r2 = the model
blob, r3 = the row's buffer. Returns the class index, or -1 - best on a near tie.
"""

from .thumb_asm import ldr as _ldr
from .thumb_asm import ldrb as _ldrb
from .thumb_asm import ldrh as _ldrh
from .thumb_asm import ldrsb as _ldrsb
from .thumb_asm import str_ as _str

__all__ = ["thumb_walker_source", "THUMB_ARCHS"]

# mpy-cross -march values whose cores run this code.
THUMB_ARCHS = frozenset({"armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp"})

# Scratch cells of the layout table the walker uses (emltrees.py reserves them).
_T, _BLOB, _ROOTS, _OUT = 24, 25, 26, 27
# The first key's cell (emltrees.py: keys follow the 28-cell table).
_KEYS = 28


def _load(width: int, rt: int, base: int, index: int, scratch: int) -> list:
    """rt = base[index] for a `width`-byte unsigned item (index in a register)."""
    if width == 1:
        return [_ldrb(rt, base, index)]
    shift = {2: 1, 4: 2}[width]
    op = _ldrh if width == 2 else _ldr
    return [f"lsl(r{scratch}, r{index}, {shift})", op(rt, base, scratch)]


def _quantise(h) -> list:
    """Keys of a float32 row for a learned-scale int16 model: q = clip(floor(x * 2**shift) -
    offset, -32768, 32767) + 32768, the integer steps of emlab_quant.quantise on the float's
    bits (|offset| <= 2**29 and |shift| <= 120, checked at load, keep them within 32 bits).
    In: r2 blob, r3 row, r4 keys, r5 n_features. Registers: r1 offsets, r2 shifts, r12 row,
    r5 4 * j counting down, r0 m then v, r6 the float's bits, r7 e then p, r3/r4 scratch."""
    one16 = ["mov(r0, 1)", "lsl(r0, r0, 16)", "sub(r0, 1)"]         # 65535: q = 32767
    return [
        "label(QUANTISE)", "mov(r12, r3)",
        "ldr(r1, [r1, %d])" % h(19), "add(r1, r1, r2)",                  # int32 offsets
        "lsl(r5, r5, 2)", "add(r2, r1, r5)",                             # int8 shifts
        "label(Q_NEXT)", "sub(r5, 4)", "bmi(KEYS_DONE)",
        "mov(r3, r12)", _ldr(6, 3, 5),                                   # the float's bits
        "lsl(r7, r6, 1)", "lsr(r7, r7, 24)",                             # e
        "lsl(r0, r6, 9)", "lsr(r0, r0, 9)",                              # m
        "cmp(r7, 0)", "beq(Q_SUBNORMAL)", "cmp(r7, 255)", "beq(Q_SATURATE)",
        "mov(r3, 1)", "lsl(r3, r3, 23)", "orr(r0, r3)", "b(Q_EXPONENT)",
        "label(Q_SUBNORMAL)", "mov(r7, 1)",
        "label(Q_EXPONENT)", "lsr(r3, r5, 2)", _ldrsb(3, 2, 3),          # shift
        "add(r7, r7, r3)", "sub(r7, 150)",                               # p: |x| 2**s = m 2**p
        "cmp(r7, 7)", "bge(Q_SATURATE)",
        "cmp(r7, 0)", "blt(Q_RIGHT)",
        "lsl(r0, r7)", "mov(r4, 0)", "b(Q_SIGN)",                        # v = m << p
        "label(Q_RIGHT)", "neg(r7, r7)", "cmp(r7, 25)", "bge(Q_TINY)",
        "mov(r4, 1)", "lsl(r4, r7)", "sub(r4, 1)", "and_(r4, r0)",       # frac
        "lsr(r0, r7)", "b(Q_SIGN)",                                      # v = m >> -p
        "label(Q_TINY)", "mov(r4, r0)", "mov(r0, 0)",
        "label(Q_SIGN)", "cmp(r6, 0)", "bge(Q_OFFSET)",
        "neg(r0, r0)", "cmp(r4, 0)", "beq(Q_OFFSET)", "sub(r0, 1)",      # floor
        "label(Q_OFFSET)", _ldr(3, 1, 5), "sub(r0, r0, r3)",             # v - offset
        "mov(r3, 128)", "lsl(r3, r3, 8)", "add(r0, r0, r3)",             # + 32768
        "bmi(Q_LOW)", "lsr(r4, r0, 16)", "beq(Q_STORE)", *one16, "b(Q_STORE)",
        "label(Q_LOW)", "mov(r0, 0)", "b(Q_STORE)",
        "label(Q_SATURATE)", "mov(r0, 0)", "cmp(r6, 0)", "blt(Q_STORE)", *one16,
        "label(Q_STORE)", "mov(r3, lr)", "add(r3, r3, r5)",
        "str(r0, [r3, %d])" % h(_KEYS), "b(Q_NEXT)"]


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
    emit("ldr(r4, [r1, %d])" % h(10), "lsl(r4, r4, 2)", "add(r4, r4, r1)",   # r4 = keys
         "ldr(r5, [r1, %d])" % h(3))                                        # r5 = n_features
    if thr_bytes == 4:
        emit("lsl(r5, r5, 2)", "mov(r6, 1)", "lsl(r6, r6, 31)",
             "label(KEYS)", "sub(r5, 4)", "bmi(KEYS_DONE)",
             _ldr(7, 3, 5), "asr(r0, r7, 31)", "orr(r0, r6)", "eor(r7, r0)",
             _str(7, 4, 5), "b(KEYS)")
    else:
        # h[13] == 2: a float32 row for a learned-scale int16 model, quantised here.
        emit("ldr(r0, [r1, %d])" % h(13), "cmp(r0, 2)", "beq(QUANTISE)",
             "lsl(r5, r5, 1)", "mov(r6, 128)", "lsl(r6, r6, 8)",
             "label(KEYS)", "sub(r5, 2)", "bmi(KEYS_DONE)",
             _ldrh(7, 3, 5), "eor(r7, r6)", "lsl(r0, r5, 1)",
             _str(7, 4, 0), "b(KEYS)")
        emit(*_quantise(h))
    emit("label(KEYS_DONE)", "mov(r1, lr)", "ldr(r2, [r1, %d])" % h(_BLOB))
    # -- sums = 0; the leaf-per-tree cells follow them ---------------------------------------
    emit("ldr(r0, [r1, %d])" % h(11), "lsl(r0, r0, 2)", "add(r0, r0, r1)",   # r0 = acc
         "ldr(r6, [r1, %d])" % h(2), "lsl(r6, r6, 2)", "mov(r7, 0)",
         "label(ZERO)", "sub(r6, 4)", "bmi(ZERO_DONE)", _str(7, 0, 6), "b(ZERO)",
         "label(ZERO_DONE)",
         "ldr(r6, [r1, %d])" % h(2), "lsl(r6, r6, 2)", "add(r6, r6, r0)",
         "sub(r6, 4)", "str(r6, [r1, %d])" % h(_OUT),            # &acc[no] - 4: out[t + 1]
         "ldr(r6, [r1, %d])" % h(4), "add(r6, r6, r2)", "str(r6, [r1, %d])" % h(_ROOTS),
         "mov(r6, 0)", "str(r6, [r1, %d])" % h(_T))
    # -- walk every tree; registers: r0 n, r1 feature, r2 keys, r3 thresholds, r4 left,
    #    r5 child base, r12 right, r6/r7 scratch; t and the bases in the table (lr) ---------
    emit("ldr(r3, [r1, %d])" % h(6), "add(r3, r3, r2)",
         "ldr(r4, [r1, %d])" % h(8), "add(r4, r4, r2)", "mov(r12, r4)",
         "ldr(r4, [r1, %d])" % h(7), "add(r4, r4, r2)",
         "ldr(r5, [r1, %d])" % h(18),
         "ldr(r6, [r1, %d])" % h(5), "add(r6, r6, r2)",
         "ldr(r2, [r1, %d])" % h(10), "lsl(r2, r2, 2)", "add(r2, r2, r1)",
         "mov(r1, r6)",
         "label(TREE)", "mov(r7, lr)",
         "ldr(r6, [r7, %d])" % h(_T), "ldr(r0, [r7, %d])" % h(0), "cmp(r6, r0)",
         "bge(TREES_DONE)",
         "add(r0, r6, 1)", "str(r0, [r7, %d])" % h(_T),
         "ldr(r0, [r7, %d])" % h(_ROOTS))
    emit(*_load(root_bytes, 0, 0, 6, 6))
    emit("ldr(r6, [r7, %d])" % h(1), "cmp(r0, r6)", "bcs(ROOT_LEAF)")
    for side, base_reg in (("LEFT", 4), ("RIGHT", None)):
        if side == "LEFT":
            emit("label(VISIT)")
            emit(*_load(feat_bytes, 6, 1, 0, 6))
            emit("lsl(r6, r6, 2)", _ldr(6, 2, 6))              # key[feature[n]]
            emit(*_load(thr_bytes, 7, 3, 0, 7))                 # threshold[n]
            emit("cmp(r6, r7)", "bhi(GO_RIGHT)")
            emit(*_load(child_bytes, 7, 4, 0, 7))
        else:
            emit("label(GO_RIGHT)", "mov(r6, r12)")
            emit(*_load(child_bytes, 7, 6, 0, 7))
        emit("cmp(r7, r5)", "bcs(LEAF)", "add(r0, r0, r7)", "b(VISIT)")
    emit("label(ROOT_LEAF)", "sub(r0, r0, r6)", "b(STORE)",
         "label(LEAF)", "sub(r0, r7, r5)",
         "label(STORE)", "mov(r7, lr)", "ldr(r6, [r7, %d])" % h(_T), "lsl(r6, r6, 2)",
         "ldr(r7, [r7, %d])" % h(_OUT), _str(0, 7, 6), "b(TREE)",
         "label(TREES_DONE)")
    # -- add each tree's leaf to the sums; r0 = acc, lr = w ---------------------------------
    emit("mov(r7, lr)", "ldr(r0, [r7, %d])" % h(11), "lsl(r0, r0, 2)", "add(r0, r0, r7)",
         "ldr(r6, [r7, %d])" % h(2), "lsl(r6, r6, 2)", "add(r4, r0, r6)",
         "str(r4, [r7, %d])" % h(_T),                            # next leaf cell
         "ldr(r6, [r7, %d])" % h(0), "lsl(r6, r6, 2)", "add(r6, r6, r4)", "mov(r12, r6)",
         "ldr(r5, [r7, %d])" % h(_BLOB),
         "ldr(r3, [r7, %d])" % h(16), "add(r3, r3, r5)")
    if dense:
        emit("label(LEAF_NEXT)", "mov(r7, lr)", "ldr(r4, [r7, %d])" % h(_T), "mov(r6, r12)",
             "cmp(r4, r6)", "bcs(SUMS_DONE)",
             "ldr(r5, [r4, 0])", "add(r4, 4)", "str(r4, [r7, %d])" % h(_T),
             "ldr(r1, [r7, %d])" % h(2), "mul(r5, r1)", "add(r5, r5, r3)",   # &value[n * no]
             "lsl(r1, r1, 2)", "mov(r6, 0)",
             "label(CELL)", "cmp(r6, r1)", "bcs(LEAF_NEXT)",
             "ldrb(r7, [r5, 0])", "add(r5, 1)", _ldr(4, 0, 6), "add(r4, r4, r7)",
             _str(4, 0, 6), "add(r6, 4)", "b(CELL)")
    else:
        emit("ldr(r2, [r7, %d])" % h(15), "add(r2, r2, r5)",             # classes
             "ldr(r1, [r7, %d])" % h(9), "add(r1, r1, r5)",              # leaf starts
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
         "ldr(r1, [r7, %d])" % h(2), "lsl(r1, r1, 2)",
         "mov(r2, 0)", "ldr(r3, [r0, 0])", "mov(r4, 4)",
         "label(MAX)", "cmp(r4, r1)", "bcs(MAX_DONE)", _ldr(5, 0, 4),
         "cmp(r5, r3)", "ble(MAX_NEXT)", "mov(r3, r5)", "mov(r2, r4)",
         "label(MAX_NEXT)", "add(r4, 4)", "b(MAX)",
         "label(MAX_DONE)", "ldr(r6, [r7, %d])" % h(14), "cmp(r6, 0)", "beq(BEST)",
         "mov(r4, 0)",
         "label(TIE)", "cmp(r4, r1)", "bcs(BEST)", "cmp(r4, r2)", "beq(TIE_NEXT)",
         _ldr(5, 0, 4), "sub(r5, r3, r5)", "cmp(r5, r6)", "ble(NEAR)",
         "label(TIE_NEXT)", "add(r4, 4)", "b(TIE)",
         "label(NEAR)", "lsr(r0, r2, 2)", "mvn(r0, r0)", "b(END)",
         "label(BEST)", "lsr(r0, r2, 2)",
         "label(END)")
    body = "\n".join("    " + line for line in c)
    return (f"@micropython.asm_thumb\ndef forest_{name}(r0, r1, r2, r3) -> int:\n{body}\n")
