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

Packed model files (layout 3, ``packed=``): the node word's bit fields are cut with masks and
shift amounts computed once per call (_walk_packed); 13 to 26 instructions per visit by word
size and threshold encoding, see there.

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
from .thumb_asm import add_sp as _add_sp
from .thumb_asm import ldr as _ldr
from .thumb_asm import ldr_sp as _ldr_sp
from .thumb_asm import ldrb as _ldrb
from .thumb_asm import ldrh as _ldrh
from .thumb_asm import str_ as _str
from .thumb_asm import str_sp as _str_sp
from .thumb_asm import sub_sp as _sub_sp
from .thumb_asm import uxtb as _uxtb
from .thumb_asm import uxth as _uxth

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


# Layout table cells of a packed model file (trees/packing.py): field widths, then W | T << 8.
_FB, _TB, _LB = 28, 29, 30


def _walk_packed(h, word_bytes: int, mode: str, sfx: str) -> list:
    """Walk every tree of a packed model file (layout 3). mode: "t16" table thresholds on
    uint16 keys (each key cell holds key << 16 | off[f], written by the key pass), "t32" table
    thresholds on uint32 keys, "r16" raw uint16 thresholds (key cells hold max(key - table[0],
    0), written by the key pass: key <= table[0] + i exactly when that is <= i, as
    table[0] + i < 2**32 then), "r32" raw uint32 thresholds (table[0] + i per visit, with
    32-bit wrap-around), "f" a float32 row of a learned-scale int16 model (each node's float32
    key, h[19]).
    Instructions per visit (left branch / right branch; the tiny layout's walk: 12 / 13):
      W = 2 or 4: t16 19 / 21-22, r16 13 / 15-16, t32 21 / 23-24, r32 14 / 16-17, f 10-11 / 14
      W = 3: five more (the high byte).
    In: r1 = lr = w, r2 = the blob. The node index is kept as r0 = W' * n + D, W' = 2 (W 2 or
    3) or 4, D = node words - keys, so one register-offset load off the keys' base fetches
    the node word. Registers in the walk: r0 node, r1 word, r2/r3 scratch, r4 keys, r5-r7
    and r8-r11 the per-call constants (r8-r11 saved on the stack), r12 2 * base, lr = w."""
    ws = 4 if word_bytes == 4 else 2
    lg = ws.bit_length() - 1                          # log2(W')
    consts = {"t16": ("TB", "M4", "MI", "FB", "ML", "SR", "HB"),
              "t32": ("OFF", "TB", "FB", "ML", "SR", "HB", "M4", "MI"),
              "r16": ("M4", "FB", "MI", "ML", "SR", "HB"),
              "r32": ("M4", "FB", "MI", "TMIN", "ML", "SR", "HB"),
              "f": ("M4", "K32", "ML", "SR", "HB")}[mode]
    if word_bytes != 3:
        consts = tuple(k for k in consts if k != "HB")
    # Where each constant lives in the walk: r5-r7 first (t32: r5 is scratch), then r8-r11,
    # then the frame. The setup writes them all to the frame ([sp, 4 + 4 * k]) first.
    slot = {k: 4 + 4 * j for j, k in enumerate(consts)}
    frame = (4 + 4 * len(consts) + 7) // 8 * 8
    regs = (["r5", "r6", "r7"] if mode != "t32" else ["r6", "r7"]) + ["r8", "r9", "r10", "r11"]
    where = {k: (regs[j] if j < len(regs) else slot[k]) for j, k in enumerate(consts)}

    def get(k, tmp):
        """(code, register): constant k in a low register (tmp if it must be fetched)."""
        r = where[k]
        if isinstance(r, int):
            return [_ldr_sp(int(tmp[1:]), r)], tmp
        if r in ("r5", "r6", "r7"):
            return [], r
        return [f"mov({tmp}, {r})"], tmp

    def put(k, src):
        return [_str_sp(int(src[1:]), slot[k])] if k in slot else []

    L = lambda name: name + sfx                       # noqa: E731
    c = []
    # -- save r8-r11, make the frame -------------------------------------------------------
    c += ["mov(r4, r8)", "mov(r5, r9)", "mov(r6, r10)", "mov(r7, r11)",
          "push({r4, r5, r6, r7})", _sub_sp(frame)]
    # -- per-call constants (r1 = w, r2 = blob); scratch r3, r5-r7 --------------------------
    # r4 = keys; [sp] = D = blob + h[5] - keys
    c += ["ldr(r4, [r1, %d])" % h(TABLE_KEYS), "lsl(r4, r4, 2)", "add(r4, r4, r1)",
          "ldr(r0, [r1, %d])" % h(SECTION["feature"]), "add(r0, r0, r2)", "sub(r0, r0, r4)",
          _str_sp(0, 0),
          "ldr(r3, [r1, %d])" % h(_FB), *put("FB", "r3"),
          "mov(r6, 1)", "lsl(r6, r3)", "sub(r6, 1)", "lsl(r6, r6, 2)", *put("M4", "r6"),
          "ldr(r7, [r1, %d])" % h(_TB),
          *(["mov(r6, 1)", "lsl(r6, r7)", "sub(r6, 1)", *put("MI", "r6")] if "MI" in slot
            else []),
          "add(r3, r3, r7)",                              # r3 = fb + tb
          "ldr(r7, [r1, %d])" % h(_LB), "mov(r6, 1)", "lsl(r6, r7)", "sub(r6, 1)",
          "lsl(r6, r3)", *put("ML", "r6"),                # ML: the l field in place
          "add(r3, r3, r7)", *put("SR", "r3"),            # fb + tb + lb
          "ldr(r3, [r1, %d])" % h(TABLE_CHILD_BASE), "lsl(r3, r3, 1)", "mov(r12, r3)"]
    if "TB" in slot or "TMIN" in slot:
        c += ["ldr(r3, [r1, %d])" % h(SECTION["threshold"]), "add(r3, r3, r2)", *put("TB", "r3")]
    if "TMIN" in slot:
        c += ["ldr(r5, [r3, 0])", *put("TMIN", "r5")]
    if "OFF" in slot:
        c += ["ldr(r3, [r1, %d])" % h(SECTION["left"]), "add(r3, r3, r2)", *put("OFF", "r3")]
    if "HB" in slot:                                    # HB - D / 2 (D is even, signed)
        c += ["ldr(r3, [r1, %d])" % h(SECTION["right"]), "add(r3, r3, r2)",
              "asr(r6, r0, 1)", "sub(r3, r3, r6)", *put("HB", "r3")]
    if "K32" in slot:                                   # keys32 - D * 4 / W'
        c += ["ldr(r3, [r1, %d])" % h(SECTION["quantiser"]), "add(r3, r3, r2)",
              "lsl(r6, r0, 1)" if ws == 2 else "mov(r6, r0)", "sub(r3, r3, r6)",
              *put("K32", "r3")]
    for k, r in where.items():                          # into their registers
        if not isinstance(r, int):
            if r in ("r5", "r6", "r7"):
                c += [_ldr_sp(int(r[1:]), slot[k])]
            else:
                c += [_ldr_sp(3, slot[k]), f"mov({r}, r3)"]
    # -- every tree; r0-r3 only (r4-r12 hold the constants) --------------------------------
    c += [f"label({L('TREE')})", "mov(r3, lr)",
          "ldr(r2, [r3, %d])" % h(_T), "ldr(r1, [r3, %d])" % h(TABLE_N_TREES), "cmp(r2, r1)",
          f"bge({L('EXIT')})",
          "add(r1, r2, 1)", "str(r1, [r3, %d])" % h(_T),
          "ldr(r1, [r3, %d])" % h(_ROOTS), "lsl(r2, r2, 1)", _ldrh(0, 1, 2),
          "ldr(r1, [r3, %d])" % h(TABLE_N_NODES), "cmp(r0, r1)", f"bcs({L('ROOT_LEAF')})",
          f"lsl(r0, r0, {lg})", _ldr_sp(1, 0), "add(r0, r0, r1)", f"b({L('VISIT')})"]
    # -- the left branch: l == 0 -> the next node; placed so it falls into the visit -------
    code, reg = get("ML", "r3")
    c += [f"label({L('LEFT')})", *code, f"tst(r1, {reg})", f"bne({L('LEFT_LEAF')})",
          f"add(r0, {ws})"]
    # -- one node visit ----------------------------------------------------------------------
    c += [f"label({L('VISIT')})"]
    if word_bytes == 4:
        c += [_ldr(1, 4, 0)]
    else:
        c += [_ldrh(1, 4, 0)]
    if word_bytes == 3:
        code, reg = get("HB", "r2")
        c += ["asr(r3, r0, 1)", *code, _ldrb(3, int(reg[1:]), 3), "lsl(r3, r3, 16)",
              "orr(r1, r3)"]
    if mode == "f":
        code, m4 = get("M4", "r3")
        _, k32 = get("K32", "r3")                       # keys32 + 4n = K32' + (r0 << 2 - lg)
        c += ["lsl(r2, r1, 2)", *code, f"and_(r2, {m4})", _ldr(2, 4, 2),    # key[f]
              *(["lsl(r3, r0, 1)"] if ws == 2 else []),
              _ldr(3, int(k32[1:]), 3 if ws == 2 else 0)]
    elif mode == "t16":
        code, fb = get("FB", "r2")
        _, mi = get("MI", "r3")
        code2, m4 = get("M4", "r3")
        c += [*code, "mov(r3, r1)", f"lsr(r3, {fb})", f"and_(r3, {mi})",     # i
              "lsl(r2, r1, 2)", *code2, f"and_(r2, {m4})", _ldr(2, 4, 2),   # key << 16 | off
              "add(r3, r3, r2)", "lsr(r2, r3, 16)",                           # r2 = key
              _uxth(3, 3), "lsl(r3, r3, 1)"]
        _, tb = get("TB", "r3")
        c += [_ldrh(3, int(tb[1:]), 3)]
    elif mode == "t32":
        code, fb = get("FB", "r2")
        code2, mi = get("MI", "r2")
        c += [*code, "mov(r5, r1)", f"lsr(r5, {fb})", *code2, f"and_(r5, {mi})"]   # i
        code, m4 = get("M4", "r3")
        _, off = get("OFF", "r3")
        _, tb = get("TB", "r3")
        c += ["lsl(r2, r1, 2)", *code, f"and_(r2, {m4})",
              "lsr(r3, r2, 1)", _ldrh(3, int(off[1:]), 3), "add(r3, r3, r5)",
              "lsl(r3, r3, 2)", _ldr(3, int(tb[1:]), 3), _ldr(2, 4, 2)]
    else:   # r16, r32
        code, m4 = get("M4", "r2")
        _, fb = get("FB", "r3")
        _, mi = get("MI", "r3")
        c += ["lsl(r2, r1, 2)", f"and_(r2, {m4})", _ldr(2, 4, 2),
              "mov(r3, r1)", f"lsr(r3, {fb})", f"and_(r3, {mi})"]
        if mode == "r32":
            c += [_add_hi(3, where["TMIN"])]
    c += ["cmp(r2, r3)", f"bls({L('LEFT')})"]
    # -- the right branch: r < base -> node n + r, else leaf r - base ----------------------
    code, sr = get("SR", "r3")
    c += [*code, f"lsr(r1, {sr})", "lsl(r1, r1, 1)"]
    if lg == 2:
        c += ["add(r0, r0, r1)", "add(r0, r0, r1)"]
    else:
        c += ["add(r0, r0, r1)"]
    c += [_cmp_hi(1, "r12"), f"bcc({L('VISIT')})",
          "mov(r3, r12)", "sub(r0, r1, r3)", "lsr(r0, r0, 1)", f"b({L('STORE')})"]
    # -- left leaf: ((w & ML) >> (fb + tb)) - 1 -----------------------------------------------
    code, ml = get("ML", "r3")
    c += [f"label({L('LEFT_LEAF')})", *code, f"and_(r1, {ml})", "mov(r3, lr)",
          "ldr(r2, [r3, %d])" % h(_FB), "ldr(r3, [r3, %d])" % h(_TB), "add(r2, r2, r3)",
          "lsr(r1, r2)", "sub(r0, r1, 1)", f"b({L('STORE')})"]
    c += [f"label({L('ROOT_LEAF')})", "sub(r0, r0, r1)",
          f"label({L('STORE')})", "mov(r3, lr)", "ldr(r2, [r3, %d])" % h(_T), "lsl(r2, r2, 2)",
          "ldr(r3, [r3, %d])" % h(_OUT), _str(0, 3, 2), f"b({L('TREE')})",
          f"label({L('EXIT')})", _add_sp(frame), "pop({r4, r5, r6, r7})",
          "mov(r8, r4)", "mov(r9, r5)", "mov(r10, r6)", "mov(r11, r7)", "mov(r1, lr)"]
    return c


def _cmp_hi(rn: int, rm: str) -> str:
    """Compare the low register rn with the high register rm (CMP register, encoding T2)."""
    return f"data(2, {0x4500 | (int(rm[1:]) << 3) | rn:#06x})"


def _add_hi(rdn: int, rm: str) -> str:
    """rdn += rm (a high register), flags untouched (ADD register, encoding T2)."""
    m = int(rm[1:])
    return f"data(2, {0x4400 | (m << 3) | rdn:#06x})"


def thumb_walker_source(name: str, feat_bytes: int, root_bytes: int, child_bytes: int,
                        thr_bytes: int, dense: bool, packed=None) -> str:
    """Source of ``forest_<name>`` for one model file layout (see kernels.walker_source).
    packed=(word_bytes, table): a packed model file (layout 3, trees/packing.py) with node words
    of word_bytes (2, 3 or 4) bytes and table (True) or raw (False) thresholds; feat_bytes
    and child_bytes are ignored then (roots are uint16)."""
    if packed is not None:
        word_bytes, table = packed
        if word_bytes not in (2, 3, 4):
            raise ValueError(f"packed node words of {word_bytes} bytes: 2, 3 or 4")
        int_mode = "t16" if table else "r16"
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
             "lsl(r5, r5, 1)", "mov(r6, 128)", "lsl(r6, r6, 8)")
        if packed is None:
            int_keys = [_ldrh(7, 3, 5), "eor(r7, r6)"]
        elif int_mode == "t16":
            # Packed, table thresholds: key << 16 | off[f] (the walk adds i to the low half).
            emit("ldr(r0, [r1, %d])" % h(SECTION["left"]), "add(r2, r2, r0)")
            int_keys = [_ldrh(7, 3, 5), "eor(r7, r6)", "lsl(r7, r7, 16)", _ldrh(0, 2, 5),
                        "orr(r7, r0)"]
        else:
            # Packed, raw thresholds: max(key - table[0], 0), compared with i.
            emit("ldr(r0, [r1, %d])" % h(SECTION["threshold"]), "add(r2, r2, r0)",
                 "ldrh(r2, [r2, 0])")
            int_keys = [_ldrh(7, 3, 5), "eor(r7, r6)", "sub(r7, r7, r2)", "bcs(KEY_OK)",
                        "mov(r7, 0)", "label(KEY_OK)"]
        emit("label(KEYS)", "sub(r5, 2)", "bmi(KEYS_DONE)",
             *int_keys, "lsl(r0, r5, 1)",
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
    if packed is not None and thr_bytes == 4:
        emit(*_walk_packed(h, word_bytes, "t32" if table else "r32", ""))
    elif packed is not None:
        emit("ldr(r0, [r1, %d])" % h(TABLE_ROW_KIND), "cmp(r0, 2)", "beq(WALK_F)", "b(WALK_I)",
             "label(WALK_F)", *_walk_packed(h, word_bytes, "f", "_F"), "b(TREES_DONE)",
             "label(WALK_I)", *_walk_packed(h, word_bytes, int_mode, ""))
    elif thr_bytes == 4:
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
