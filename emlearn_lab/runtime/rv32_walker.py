"""The tree walker in RISC-V machine code, for RV32IMC cores (ESP32-C3/C6, CH32V, ...).

The RISC-V twin of thumb_walker.py, for MicroPython's inline assembler
(``@micropython.asm_rv32``): the same steps on the same validated model file, so the same
keys, leaves, sums, first-maximum argmax and near-tie flag as the viper walker of
``emltrees_forest.tmpl``. Base RV32I plus ``mul`` (M) for dense leaves; the assembler ends the
function with ``c.jr ra`` (C). It only uses caller-saved registers (a0-a7, t0-t6), so it keeps no
stack frame. Learned-scale int16 models are quantised by emlab_quant before the call (this
walker takes int16 rows; h[13] is 0 or 1 here).

Packed files (layout 3, ``packed=(word_bytes, table)``): the same keys, and nothing per
feature; each visit decodes its node word (_packed_walk): with 2- or 4-byte words, 18
instructions for a left step and 19 for a right step with a threshold table, 12 and 13 with
raw thresholds (t = table[0] + i); 3-byte words add 4 and 5 (6 for a right step with a
table: base is read from memory, the registers being all in use). The tiny layout: 15, 14.

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

# Scratch cells of the layout table (emltrees.py reserves 24 .. 27 for the walkers); the
# packed walk keeps its tree loop in all four (_BLOB is written back after it).
_ROOT, _BLOB, _WORDS, _ROOTS_END = range(TABLE_SCRATCH, TABLE_SCRATCH + 4)
_LEAF = _BLOB
# Packed files (layout 3): field widths of a node word, written by emltrees.Trees.__init__.
_FB, _TB, _LB = 28, 29, 30


def _load(width: int, rd: str, base: str, index: str) -> list:
    """rd = base[index], a `width`-byte unsigned item (index in a register; rd is scratch)."""
    op = {1: "lbu", 2: "lhu", 4: "lw"}[width]
    shift = {1: [], 2: [f"slli({rd}, {index}, 1)"], 4: [f"slli({rd}, {index}, 2)"]}[width]
    src = rd if shift else index
    return shift + [f"add({rd}, {base}, {src})", f"{op}({rd}, 0({rd}))"]


def _packed_walk(h, word_bytes: int, table: bool, thr_bytes: int) -> list:
    """Walk every tree of a packed file, decoding each node word as the spec says: per visit
    w = word(n), f = w & fm, k = key[f], i = (w >> fb) & tm, t = thr[off[f] + i] (table) or
    t0 + i (raw; 32-bit wrap-around), k <= t (unsigned): left, else right. Nothing per
    feature: the keys are the other layouts' keys.

    Registers, set once per call: a0 node word pointer (3-byte words: t6 its high byte),
    a2 the word, t0 t1 t2 scratch, a3 fm, a4 keys, a5 fb, a6 tm, a7 offsets (raw: t0 =
    table[0]), t3 the threshold table, t4 the left code's mask in place (lm << fb + tb: 0
    when lb = 0, so every left step is then n + 1), t5 fb + tb + lb (r's shift), t6 base
    (3-byte words: with a table, base is read from the layout table on a right step; raw:
    t3). A left step with l = 0 and a right step to a node branch straight back to VISIT.
    The tree loop keeps its state in the scratch cells: next root, roots' end, next leaf
    cell, node words (the blob's address is written back to its cell after the walk)."""
    step = 4 if word_bytes == 4 else 2
    base = "t3" if (word_bytes == 3 and not table) else None if word_bytes == 3 else "t6"
    c = ["lw(a5, %d(a1))" % h(_FB), "li(t0, 1)",                          # a2: the blob
         "sll(a3, t0, a5)", "addi(a3, a3, -1)",                                # fm
         "lw(t1, %d(a1))" % h(_TB), "sll(a6, t0, t1)", "addi(a6, a6, -1)",   # tm
         "add(t1, t1, a5)",                                                  # fb + tb
         "lw(t5, %d(a1))" % h(_LB), "sll(t4, t0, t5)", "addi(t4, t4, -1)",
         "sll(t4, t4, t1)",                                                  # lm << fb + tb
         "add(t5, t5, t1)",                                                  # fb + tb + lb
         "lw(a4, %d(a1))" % h(TABLE_KEYS), "slli(a4, a4, 2)", "add(a4, a4, a1)"]  # keys
    if table:
        c += ["lw(a7, %d(a1))" % h(SECTION["left"]), "add(a7, a7, a2)",
              "lw(t3, %d(a1))" % h(SECTION["threshold"]), "add(t3, t3, a2)"]
    else:
        c += ["lw(a7, %d(a1))" % h(SECTION["threshold"]), "add(a7, a7, a2)",
              "%s(a7, 0(a7))" % ("lw" if thr_bytes == 4 else "lhu")]         # table[0]
    if base:
        c += ["lw(%s, %d(a1))" % (base, h(TABLE_CHILD_BASE))]
    c += ["lw(t0, %d(a1))" % h(SECTION["roots"]), "add(t0, t0, a2)", "sw(t0, %d(a1))" % h(_ROOT),
          "lw(t1, %d(a1))" % h(TABLE_N_TREES), "slli(t1, t1, 1)", "add(t1, t1, t0)",
          "sw(t1, %d(a1))" % h(_ROOTS_END),
          "lw(t0, %d(a1))" % h(SECTION["feature"]), "add(t0, t0, a2)", "sw(t0, %d(a1))" % h(_WORDS),
          "lw(t0, %d(a1))" % h(TABLE_SUMS), "lw(t1, %d(a1))" % h(TABLE_N_OUTPUTS),
          "add(t0, t0, t1)", "slli(t0, t0, 2)", "add(t0, t0, a1)",
          "sw(t0, %d(a1))" % h(_LEAF),                                         # leaf cells
          "label(TREE)", "lw(t0, %d(a1))" % h(_ROOT), "lw(t1, %d(a1))" % h(_ROOTS_END),
          "bgeu(t0, t1, TREES_DONE)",
          "lhu(t1, 0(t0))", "addi(t0, t0, 2)", "sw(t0, %d(a1))" % h(_ROOT),
          "lw(t0, %d(a1))" % h(TABLE_N_NODES), "bgeu(t1, t0, ROOT_LEAF)",
          "slli(t0, t1, %d)" % (step // 2), "lw(a0, %d(a1))" % h(_WORDS), "add(a0, a0, t0)"]
    if word_bytes == 3:     # high bytes: blob + right section + n = words - h[5] + h[8] + n
        c += ["sub(t6, a0, t1)", "lw(t0, %d(a1))" % h(SECTION["feature"]), "sub(t6, t6, t0)",
              "lw(t0, %d(a1))" % h(SECTION["right"]), "add(t6, t6, t0)"]
    c += ["label(VISIT)"]
    c += {2: ["lhu(a2, 0(a0))"], 4: ["lw(a2, 0(a0))"],
          3: ["lhu(a2, 0(a0))", "lbu(t1, 0(t6))", "slli(t1, t1, 16)", "or_(a2, a2, t1)"]
          }[word_bytes]
    c += ["and_(t0, a2, a3)",                                                 # f
          "srl(t1, a2, a5)", "and_(t1, t1, a6)"]                             # i
    if table:
        c += ["slli(t2, t0, 1)", "add(t2, t2, a7)", "lhu(t2, 0(t2))",        # off[f]
              "add(t1, t1, t2)"]
        c += _load(thr_bytes, "t1", "t3", "t1")                              # t
    else:
        c += ["add(t1, t1, a7)"]                                             # t = t0 + i
    c += ["slli(t0, t0, 2)", "add(t0, t0, a4)", "lw(t0, 0(t0))",            # k = key[f]
          "bltu(t1, t0, RIGHT)",
          "and_(t1, a2, t4)", "addi(a0, a0, %d)" % step]                     # l, in place
    c += ["addi(t6, t6, 1)"] if word_bytes == 3 else []
    c += ["beq(t1, zero, VISIT)",                                            # l = 0: n + 1
          "lw(t0, %d(a1))" % h(_TB), "add(t0, t0, a5)", "srl(t1, t1, t0)",
          "addi(t0, t1, -1)", "jal(zero, STORE)",                            # leaf l - 1
          "label(RIGHT)", "srl(t1, a2, t5)",                                 # r
          "slli(t0, t1, %d)" % (step // 2), "add(a0, a0, t0)"]
    c += ["add(t6, t6, t1)"] if word_bytes == 3 else []
    if base is None:
        c += ["lw(t2, %d(a1))" % h(TABLE_CHILD_BASE)]
    b = base or "t2"
    c += ["bltu(t1, %s, VISIT)" % b,                                         # r < base: n + r
          "sub(t0, t1, %s)" % b, "jal(zero, STORE)",                         # leaf r - base
          "label(ROOT_LEAF)", "sub(t0, t1, t0)",
          "label(STORE)", "lw(t1, %d(a1))" % h(_LEAF), "sw(t0, 0(t1))", "addi(t1, t1, 4)",
          "sw(t1, %d(a1))" % h(_LEAF), "jal(zero, TREE)",
          "label(TREES_DONE)",
          "lw(a2, %d(a1))" % h(TABLE_N_TREES), "lw(t3, %d(a1))" % h(_LEAF),
          "slli(t0, a2, 2)", "sub(t3, t3, t0)",                              # first leaf cell
          "lw(t0, %d(a1))" % h(_WORDS), "lw(t1, %d(a1))" % h(SECTION["feature"]),
          "sub(t0, t0, t1)", "sw(t0, %d(a1))" % h(_BLOB)]                    # the blob again
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
    if thr_bytes == 4:
        c += ["slli(t1, t1, 2)", "li(t2, 1)", "slli(t2, t2, 31)",
              "label(KEYS)", "addi(t1, t1, -4)", "blt(t1, zero, KEYS_DONE)",
              "add(t3, a3, t1)", "lw(t4, 0(t3))", "srai(t5, t4, 31)", "or_(t5, t5, t2)",
              "xor(t4, t4, t5)", "add(t3, t0, t1)", "sw(t4, 0(t3))", "jal(zero, KEYS)"]
    else:
        c += ["slli(t1, t1, 1)", "li(t2, 32768)",
              "label(KEYS)", "addi(t1, t1, -2)", "blt(t1, zero, KEYS_DONE)",
              "add(t3, a3, t1)", "lhu(t4, 0(t3))", "xor(t4, t4, t2)",
              "slli(t5, t1, 1)", "add(t5, t5, t0)", "sw(t4, 0(t5))", "jal(zero, KEYS)"]
    c += ["label(KEYS_DONE)"]
    # -- sums = 0 ----------------------------------------------------------------------------
    c += ["lw(a4, %d(a1))" % h(TABLE_SUMS), "slli(a4, a4, 2)", "add(a4, a4, a1)",     # acc
          "lw(t1, %d(a1))" % h(TABLE_N_OUTPUTS), "slli(t1, t1, 2)",
          "add(t3, a4, t1)",                                                 # t3 = &acc[no]
          "label(ZERO)", "addi(t1, t1, -4)", "blt(t1, zero, ZERO_DONE)",
          "add(t0, a4, t1)", "sw(zero, 0(t0))", "jal(zero, ZERO)", "label(ZERO_DONE)"]
    if packed:
        word_bytes, table = packed
        assert word_bytes in (2, 3, 4), word_bytes
        c += _packed_walk(h, word_bytes, bool(table), thr_bytes)
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
