"""The tree walker in RISC-V machine code, for RV32IMC cores (ESP32-C3/C6, CH32V, ...).

The RISC-V twin of thumb_walker.py, for MicroPython's inline assembler
(``@micropython.asm_rv32``): the same steps on the same validated model file, so the same
keys, leaves, sums, first-maximum argmax and near-tie flag as the viper walker of
``emltrees_forest.tmpl``. Base RV32I plus ``mul`` (M) for dense leaves; the assembler ends the
function with ``c.jr ra`` (C). It only uses caller-saved registers (a0-a7, t0-t6), so it keeps no
stack frame. Learned-scale int16 models are quantised by emlab_quant before the call (this
walker takes int16 rows; h[13] is 0 or 1 here).

Packed files (layout 3, ``packed=(word_bytes, table)``): every key is first turned into K, the
threshold-field value it is compared with, shifted to the top of a register (_packed_key:
for threshold tables, the key's rank in its feature's table group, found by binary search
once per call), so a node visit is one word load, the K load, a shift and one unsigned
compare, then a shift for the child code: 10 instructions for a left step and 11 for a right
step with 2- and 4-byte words, 14 and 15 with 3-byte words (the tiny layout: 15 and 14).

Calling convention (emlab_common.bind): ``forest_NAME(0, w, blob, x)``: a1 = the work buffer
(the layout table of emltrees.py, then keys, sums, leaf per tree), a2 = the model blob, a3 =
the row's buffer. Returns the class index, or -1 - best on a near tie.
"""

from ..trees.modelfile import TABLE_CHILD_BASE, TABLE_KEYS, TABLE_N_FEATURES, TABLE_N_NODES
from ..trees.modelfile import TABLE_N_OUTPUTS, TABLE_N_TREES, TABLE_SCRATCH
from ..trees.modelfile import TABLE_SECTION as SECTION
from ..trees.modelfile import TABLE_SUMS, TABLE_TIE_MARGIN

__all__ = ["rv32_walker_source", "RV32_ARCHS"]

RV32_ARCHS = frozenset({"rv32imc"})

# Scratch cells of the layout table (emltrees.py reserves 24 .. 27 for the walkers).
_END, _BLOB, _WORDS, _HI = range(TABLE_SCRATCH, TABLE_SCRATCH + 4)
# Packed files (layout 3): field widths of a node word, written by emltrees.Trees.__init__.
_FB, _TB, _LB = 28, 29, 30


def _load(width: int, rd: str, base: str, index: str) -> list:
    """rd = base[index], a `width`-byte unsigned item (index in a register; rd is scratch)."""
    op = {1: "lbu", 2: "lhu", 4: "lw"}[width]
    shift = {1: [], 2: [f"slli({rd}, {index}, 1)"], 4: [f"slli({rd}, {index}, 2)"]}[width]
    src = rd if shift else index
    return shift + [f"add({rd}, {base}, {src})", f"{op}({rd}, 0({rd}))"]


def _packed_key(thr_bytes: int, table: bool, float_keys: bool) -> list:
    """Packed files: turn the key in t4 (feature j: t1 = j * 4 for float keys, j * 2 for
    int16) into what the node words are compared with. A node sends the key right exactly when
    i < v, v being the key's rank in feature j's table group (how many of its thresholds are
    below the key: key <= table[off[j] + i] exactly when v <= i, the group being increasing),
    or for raw thresholds (t = table[0] + i) v = key - table[0], or 0 when key < table[0].
    Then K = v << (32 - tb), or all ones when v >= 2**tb. A node's word shifted left by
    32 - fb - tb (at least 1) has i on top, its feature below and a zero bit 0, so it is
    below K exactly when i < v: one compare per visit, no threshold read.
    In: a4 = tb, a5 = -tb, a6 = offsets, a7 = table (raw: table[0]); scratch a0, a2, t3,
    t5, t6."""
    c = []
    if table:
        c += (["srli(t3, t1, 1)", "add(t3, t3, a6)"] if float_keys else ["add(t3, t1, a6)"])
        c += ["lhu(a0, 0(t3))", "lhu(t6, 2(t3))", "mv(a2, a0)",          # lo, hi, group start
              "label(RANK)", "bgeu(a0, t6, RANK_DONE)",
              "add(t3, a0, t6)", "srli(t3, t3, 1)"]                      # mid
        c += _load(thr_bytes, "t5", "a7", "t3")
        c += ["bgeu(t5, t4, RANK_HI)", "addi(a0, t3, 1)", "jal(zero, RANK)",
              "label(RANK_HI)", "mv(t6, t3)", "jal(zero, RANK)",
              "label(RANK_DONE)", "sub(t4, a0, a2)"]
    else:
        c += ["sub(t3, t4, a7)", "sltu(t5, t4, a7)", "addi(t5, t5, -1)", "and_(t4, t3, t5)"]
    return c + ["srl(t3, t4, a4)", "sltu(t3, zero, t3)", "sub(t3, zero, t3)",
                "sll(t4, t4, a5)", "or_(t4, t4, t3)"]


def _packed_walk(h, word_bytes: int) -> list:
    """Walk every tree of a packed file (per node visit: one word load, the key, two shifts
    and a compare; left steps branch back at once and only a left code of 1 or more leaves
    the loop). Registers: a0 node word pointer (t6 its high byte for 3-byte words), a2 the
    word, a3 feature mask, a4 keys, a5 32 - fb - tb, a6 32 - fb - tb - lb, a7 the smallest
    word << a6 with a left code (all ones if lb = 0: then the slow path finds none), t2
    fb + tb + lb, t3 base, t4 next root, t5 next leaf cell, t6 the node words (3-byte words:
    the high byte of node a0); t0/t1 scratch. Shift amounts are taken mod 32."""
    step = 4 if word_bytes == 4 else 2
    c = ["lw(a2, %d(a1))" % h(_BLOB),
         "lw(t0, %d(a1))" % h(_FB), "lw(t1, %d(a1))" % h(_TB), "lw(t2, %d(a1))" % h(_LB),
         "li(a3, 1)", "sll(a3, a3, t0)", "addi(a3, a3, -1)",                   # feature mask
         "lw(a4, %d(a1))" % h(TABLE_KEYS), "slli(a4, a4, 2)", "add(a4, a4, a1)",    # keys
         "add(t1, t0, t1)",                                                 # fb + tb
         "sltu(t0, zero, t1)", "li(a5, 31)", "sub(a5, a5, t1)", "add(a5, a5, t0)",  # or 31
         "li(a7, -1)", "beq(t2, zero, LIM_DONE)", "sub(t0, zero, t2)", "li(a7, 1)",
         "sll(a7, a7, t0)", "label(LIM_DONE)",
         "add(t2, t1, t2)", "sub(a6, zero, t2)",                           # shifts: mod 32
         "lw(t3, %d(a1))" % h(TABLE_CHILD_BASE),
         "lw(t4, %d(a1))" % h(SECTION["roots"]), "add(t4, t4, a2)",
         "lw(t0, %d(a1))" % h(SECTION["feature"]), "add(t0, t0, a2)"]
    c += ["sw(t0, %d(a1))" % h(_WORDS)] if word_bytes == 3 else ["mv(t6, t0)"]
    if word_bytes == 3:
        c += ["lw(t0, %d(a1))" % h(SECTION["right"]), "add(t0, t0, a2)",
              "sw(t0, %d(a1))" % h(_HI)]
    c += ["lw(t5, %d(a1))" % h(TABLE_SUMS), "lw(t0, %d(a1))" % h(TABLE_N_OUTPUTS),
          "add(t5, t5, t0)", "slli(t5, t5, 2)", "add(t5, t5, a1)",          # leaf cells
          "lw(t0, %d(a1))" % h(TABLE_N_TREES), "slli(t0, t0, 2)", "add(t0, t0, t5)",
          "sw(t0, %d(a1))" % h(_END),
          "label(TREE)", "lw(t0, %d(a1))" % h(_END), "bgeu(t5, t0, TREES_DONE)",
          "lhu(t0, 0(t4))", "addi(t4, t4, 2)",
          "lw(t1, %d(a1))" % h(TABLE_N_NODES), "bgeu(t0, t1, ROOT_LEAF)",
          "slli(t1, t0, %d)" % (step // 2)]
    c += (["lw(a0, %d(a1))" % h(_WORDS), "add(a0, a0, t1)"] if word_bytes == 3 else
          ["add(a0, t6, t1)"])
    if word_bytes == 3:
        c += ["lw(t6, %d(a1))" % h(_HI), "add(t6, t6, t0)"]
    c += ["label(VISIT)"]
    c += {2: ["lhu(a2, 0(a0))"], 4: ["lw(a2, 0(a0))"],
          3: ["lhu(a2, 0(a0))", "lbu(t1, 0(t6))", "slli(t1, t1, 16)", "or_(a2, a2, t1)"]
          }[word_bytes]
    c += ["and_(t0, a2, a3)", "slli(t0, t0, 2)", "add(t0, t0, a4)", "lw(t0, 0(t0))",  # K[f]
          "sll(t1, a2, a5)", "bltu(t1, t0, RIGHT)",                         # i < v: right
          "sll(t1, a2, a6)", "addi(a0, a0, %d)" % step]                     # left code on top
    c += ["addi(t6, t6, 1)"] if word_bytes == 3 else []
    c += ["bltu(t1, a7, VISIT)",                                            # l = 0: n + 1
          "lw(t0, %d(a1))" % h(_LB), "beq(t0, zero, VISIT)",
          "sub(t0, zero, t0)", "srl(t1, t1, t0)", "beq(t1, zero, VISIT)",
          "addi(t0, t1, -1)", "jal(zero, STORE)",                            # leaf l - 1
          "label(RIGHT)", "srl(t1, a2, t2)"]                                 # r
    c += ["add(t6, t6, t1)"] if word_bytes == 3 else []
    c += ["slli(t0, t1, %d)" % (step // 2), "add(a0, a0, t0)", "bltu(t1, t3, VISIT)",
          "sub(t0, t1, t3)", "jal(zero, STORE)",                             # leaf r - base
          "label(ROOT_LEAF)", "sub(t0, t0, t1)",
          "label(STORE)", "sw(t0, 0(t5))", "addi(t5, t5, 4)", "jal(zero, TREE)",
          "label(TREES_DONE)",
          "lw(a2, %d(a1))" % h(TABLE_N_TREES), "slli(t0, a2, 2)", "sub(t3, t5, t0)"]
    return c


def rv32_walker_source(name: str, feat_bytes: int, root_bytes: int, child_bytes: int,
                       thr_bytes: int, dense: bool, packed=None) -> str:
    """Source of ``forest_<name>`` for one model file layout (see kernels.walker_source).
    packed = (word_bytes, table): the packed layout (feat/child widths unused; roots uint16)."""
    h = lambda i: 4 * i          # noqa: E731  byte offset of layout table cell i
    c = ["sw(a2, %d(a1))" % h(_BLOB)]
    # -- keys: float32 -> order-preserving uint32; int16 -> x ^ 0x8000 ---------------------
    c += ["lw(t0, %d(a1))" % h(TABLE_KEYS), "slli(t0, t0, 2)", "add(t0, t0, a1)",     # keys
          "lw(t1, %d(a1))" % h(TABLE_N_FEATURES)]                            # n_features
    to_k = []
    if packed:
        word_bytes, table = packed
        assert word_bytes in (2, 3, 4), word_bytes
        c += ["lw(a4, %d(a1))" % h(_TB), "sub(a5, zero, a4)"]
        c += ["lw(a7, %d(a1))" % h(SECTION["threshold"]), "add(a7, a7, a2)"]
        if table:
            c += ["lw(a6, %d(a1))" % h(SECTION["left"]), "add(a6, a6, a2)"]
        else:
            c += ["%s(a7, 0(a7))" % ("lw" if thr_bytes == 4 else "lhu")]     # table[0]
        to_k = _packed_key(thr_bytes, table, thr_bytes == 4)
    if thr_bytes == 4:
        c += ["slli(t1, t1, 2)", "li(t2, 1)", "slli(t2, t2, 31)",
              "label(KEYS)", "addi(t1, t1, -4)", "blt(t1, zero, KEYS_DONE)",
              "add(t3, a3, t1)", "lw(t4, 0(t3))", "srai(t5, t4, 31)", "or_(t5, t5, t2)",
              "xor(t4, t4, t5)"] + to_k + ["add(t3, t0, t1)", "sw(t4, 0(t3))",
                                           "jal(zero, KEYS)"]
    else:
        c += ["slli(t1, t1, 1)", "li(t2, 32768)",
              "label(KEYS)", "addi(t1, t1, -2)", "blt(t1, zero, KEYS_DONE)",
              "add(t3, a3, t1)", "lhu(t4, 0(t3))", "xor(t4, t4, t2)"] + to_k + [
              "slli(t5, t1, 1)", "add(t5, t5, t0)", "sw(t4, 0(t5))", "jal(zero, KEYS)"]
    c += ["label(KEYS_DONE)"]
    # -- sums = 0 ----------------------------------------------------------------------------
    c += ["lw(a4, %d(a1))" % h(TABLE_SUMS), "slli(a4, a4, 2)", "add(a4, a4, a1)",     # acc
          "lw(t1, %d(a1))" % h(TABLE_N_OUTPUTS), "slli(t1, t1, 2)",
          "add(t3, a4, t1)",                                                 # t3 = &acc[no]
          "label(ZERO)", "addi(t1, t1, -4)", "blt(t1, zero, ZERO_DONE)",
          "add(t0, a4, t1)", "sw(zero, 0(t0))", "jal(zero, ZERO)", "label(ZERO_DONE)"]
    if packed:
        c += _packed_walk(h, packed[0])
    else:
        # -- walk every tree: a0 n, a4 feature, a5 keys, a6 thresholds, a7 left, t6 right,
        #    t5 child base, a3 t, a2 n_trees, t2 n_nodes, t4 roots, t3 leaf per tree -----------
        c += ["lw(a4, %d(a1))" % h(SECTION["feature"]), "add(a4, a4, a2)",
              "lw(a5, %d(a1))" % h(TABLE_KEYS), "slli(a5, a5, 2)", "add(a5, a5, a1)",
              "lw(a6, %d(a1))" % h(SECTION["threshold"]), "add(a6, a6, a2)",
              "lw(a7, %d(a1))" % h(SECTION["left"]), "add(a7, a7, a2)",
              "lw(t6, %d(a1))" % h(SECTION["right"]), "add(t6, t6, a2)",
              "lw(t4, %d(a1))" % h(SECTION["roots"]), "add(t4, t4, a2)",
              "lw(t5, %d(a1))" % h(TABLE_CHILD_BASE), "lw(t2, %d(a1))" % h(TABLE_N_NODES),
              "lw(a2, %d(a1))" % h(TABLE_N_TREES),
              "li(a3, 0)",
              "label(TREE)", "bge(a3, a2, TREES_DONE)"]
        c += _load(root_bytes, "a0", "t4", "a3")
        c += ["bgeu(a0, t2, ROOT_LEAF)",
              "label(VISIT)"]
        c += _load(feat_bytes, "t0", "a4", "a0")
        c += ["slli(t0, t0, 2)", "add(t0, a5, t0)", "lw(t0, 0(t0))"]           # key[feature[n]]
        c += _load(thr_bytes, "t1", "a6", "a0")                                 # threshold[n]
        c += ["bltu(t1, t0, GO_RIGHT)"]
        c += _load(child_bytes, "t1", "a7", "a0")
        c += ["jal(zero, CHILD)", "label(GO_RIGHT)"]
        c += _load(child_bytes, "t1", "t6", "a0")
        c += ["label(CHILD)", "bgeu(t1, t5, LEAF)", "add(a0, a0, t1)", "jal(zero, VISIT)",
              "label(ROOT_LEAF)", "sub(a0, a0, t2)", "jal(zero, STORE)",
              "label(LEAF)", "sub(a0, t1, t5)",
              "label(STORE)", "slli(t0, a3, 2)", "add(t0, t3, t0)", "sw(a0, 0(t0))",
              "addi(a3, a3, 1)", "jal(zero, TREE)",
              "label(TREES_DONE)"]
    # -- add each tree's leaf to the sums: a4 acc, t3 next leaf cell, t6 its end -------------
    c += ["lw(a4, %d(a1))" % h(TABLE_SUMS), "slli(a4, a4, 2)", "add(a4, a4, a1)",
          "slli(t6, a2, 2)", "add(t6, t6, t3)",
          "lw(a5, %d(a1))" % h(_BLOB), "lw(a7, %d(a1))" % h(SECTION["leaf_value"]),
          "add(a7, a7, a5)",
          "lw(a2, %d(a1))" % h(TABLE_N_OUTPUTS)]                                          # a2 = no
    if dense:
        c += ["slli(t2, a2, 2)",
              "label(LEAF_NEXT)", "bgeu(t3, t6, SUMS_DONE)",
              "lw(t0, 0(t3))", "addi(t3, t3, 4)", "mul(t0, t0, a2)", "add(t0, a7, t0)",
              "li(t1, 0)",
              "label(CELL)", "bgeu(t1, t2, LEAF_NEXT)",
              "lbu(t5, 0(t0))", "addi(t0, t0, 1)", "add(a3, a4, t1)", "lw(a5, 0(a3))",
              "add(a5, a5, t5)", "sw(a5, 0(a3))", "addi(t1, t1, 4)", "jal(zero, CELL)"]
    else:
        c += ["lw(a6, %d(a1))" % h(SECTION["leaf_class"]), "add(a6, a6, a5)",     # classes
              "lw(t4, %d(a1))" % h(SECTION["leaf_start"]), "add(t4, t4, a5)",     # leaf starts
              "label(LEAF_NEXT)", "bgeu(t3, t6, SUMS_DONE)",
              "lw(t0, 0(t3))", "addi(t3, t3, 4)", "slli(t0, t0, 2)", "add(t0, t4, t0)",
              "lw(t1, 0(t0))", "lw(t2, 4(t0))",                             # cells j .. e
              "label(CELL)", "bgeu(t1, t2, LEAF_NEXT)",
              "slli(t0, t1, 1)", "add(t0, a6, t0)", "lhu(t0, 0(t0))",       # class
              "slli(t0, t0, 2)", "add(t0, a4, t0)",
              "slli(t5, t1, 2)", "add(t5, a7, t5)", "lw(t5, 0(t5))",        # value
              "lw(a3, 0(t0))", "add(a3, a3, t5)", "sw(a3, 0(t0))",
              "addi(t1, t1, 1)", "jal(zero, CELL)"]
    # -- first maximum, then the near-tie flag -----------------------------------------------
    c += ["label(SUMS_DONE)", "slli(a2, a2, 2)",
          "li(a0, 0)", "lw(a3, 0(a4))", "li(t0, 4)",
          "label(MAX)", "bgeu(t0, a2, MAX_DONE)", "add(t1, a4, t0)", "lw(t1, 0(t1))",
          "bge(a3, t1, MAX_NEXT)", "mv(a3, t1)", "mv(a0, t0)",
          "label(MAX_NEXT)", "addi(t0, t0, 4)", "jal(zero, MAX)",
          "label(MAX_DONE)", "lw(t2, %d(a1))" % h(TABLE_TIE_MARGIN), "beq(t2, zero, BEST)",
          "li(t0, 0)",
          "label(TIE)", "bgeu(t0, a2, BEST)", "beq(t0, a0, TIE_NEXT)",
          "add(t1, a4, t0)", "lw(t1, 0(t1))", "sub(t1, a3, t1)", "bge(t2, t1, NEAR)",
          "label(TIE_NEXT)", "addi(t0, t0, 4)", "jal(zero, TIE)",
          "label(NEAR)", "srli(a0, a0, 2)", "xori(a0, a0, -1)", "jal(zero, END)",
          "label(BEST)", "srli(a0, a0, 2)",
          "label(END)"]
    body = "\n".join("    " + line for line in c)
    return f"@micropython.asm_rv32\ndef forest_{name}(a0, a1, a2, a3) -> int:\n{body}\n"
