"""The near-tie path in Thumb-2 machine code: scikit-learn's float64 average, exactly.

A forest classifier's integer class sums leave a few rows (digits: ~1%) as near ties, where
the class scikit-learn picks depends on its float64 arithmetic: the per-tree probabilities
summed in tree order, each sum rounded to float64, divided by n_trees, first maximum. The
bytecode path (device_src/emlab_f64.py, Python integers) takes over a million instructions a
row on a Cortex-M3 (opening the probabilities' file alone ~280 000). ``settle_f64`` does it
in machine code for the classes within the near-tie margin, from the probabilities held in
RAM, with the same rounding (to nearest, ties to even): an add of two non-negative doubles
(~60 instructions) and a division by n_trees (~70). It returns -2 where it cannot be exact
in its fixed-width arithmetic (n_trees >= 256, or a sum below the normal range): the caller
then takes the bytecode path.

``settle_f64(work, ties, p, s)``: work the kernel's array('i') (class sums from cell p[1],
the leaf reached per tree from cell p[2]); ties the float64 probabilities (little-endian,
leaf-major, p[3] per leaf); p = array('i', [best, sums cell, leaves cell, n_outputs,
n_trees, margin]); s = array('i') of 12 scratch cells (s[7], s[8]: the winner's quotient,
high and low words). ARMv7-M only (udiv, clz, movw).
"""

import re

__all__ = ["THUMB2_ARCHS", "settle_f64_source", "settle_f64_body", "MAX_TREES",
           "MAX_TIES_BYTES", "native_ties"]

# mpy-cross -march values whose cores run Thumb-2 (movw/movt, udiv, clz, wide loads and
# branches): this code and trees/inline_thumb.py's.
THUMB2_ARCHS = frozenset({"armv7m", "armv7em", "armv7emsp", "armv7emdp"})
# The division works on a 64-bit numerator: exact for divisors below 2**8.
MAX_TREES = 255
# Probabilities kept in RAM up to this size (a model with more reads them from its file).
MAX_TIES_BYTES = 16384


def native_ties(model, arch: str | None) -> bool:
    """Whether a deployed forest classifier settles near ties in machine code on `arch`,
    holding its float64 probabilities in RAM (n_leaves * n_outputs * 8 bytes)."""
    return (arch in THUMB2_ARCHS and model.tie_margin > 0 and model.n_trees <= MAX_TREES
            and model.n_leaves * model.n_outputs * 8 <= MAX_TIES_BYTES)


_SOURCE = """
@micropython.asm_thumb
def settle_f64(r0, r1, r2, r3) -> int:
    str(r0, [r3, 0])
    str(r1, [r3, 4])
    str(r2, [r3, 8])
    ldr(r4, [r2, 0])
    ldr(r5, [r2, 4])
    add(r4, r4, r5)
    lsl(r4, r4, 2)
    add(r4, r4, r0)
    ldr(r4, [r4, 0])
    str(r4, [r3, 40])               # top: the best integer sum
    mov(r4, 0)
    mvn(r4, r4)
    str(r4, [r3, 36])               # the winner: none yet (-1)
    mov(r4, 0)
    str(r4, [r3, 12])               # j = 0
    label(CLASS)
@CLASS_HEAD@
    ldr(r6, [r3, 40])
    sub(r6, r6, r5)                 # top - sum[j]
    ldr(r5, [r2, 20])
    cmp(r6, r5)
    bgt_w(NEXT_CLASS)               # beyond the margin: it loses in float64 too
    mov(r4, 0)
    str(r4, [r3, 20])
    str(r4, [r3, 24])               # S = +0.0
    str(r4, [r3, 16])               # t = 0
    label(TREE)
@TREE_HEAD@
    ldr(r6, [r2, 12])
    mul(r5, r6)
    ldr(r6, [r3, 12])
    add(r5, r5, r6)
    lsl(r5, r5, 3)
    ldr(r1, [r3, 4])
    add(r1, r1, r5)
    ldr(r6, [r1, 4])
    ldr(r7, [r1, 0])                # b: its probability of class j
    ldr(r4, [r3, 20])
    ldr(r5, [r3, 24])               # a: S
    bl(ADD)
    str(r4, [r3, 20])
    str(r5, [r3, 24])
    ldr(r4, [r3, 16])
    add(r4, 1)
    str(r4, [r3, 16])
    b(TREE)
    label(TREES_DONE)
    ldr(r4, [r3, 20])
    ldr(r5, [r3, 24])
    ldr(r2, [r3, 8])
    ldr(r6, [r2, 16])
    bl(DIV)                         # the mean
    mov(r0, 0)
    mvn(r0, r0)
    cmp(r4, r0)
    beq_w(FALLBACK)
    ldr(r0, [r3, 36])
    cmp(r0, 0)
    blt(TAKE)
    ldr(r6, [r3, 28])
    cmp(r4, r6)
    bhi(TAKE)
    bcc(NEXT_CLASS)
    ldr(r7, [r3, 32])
    cmp(r5, r7)
    bls(NEXT_CLASS)                 # equal: the first maximum stays
    label(TAKE)
    str(r4, [r3, 28])
    str(r5, [r3, 32])
    ldr(r4, [r3, 12])
    str(r4, [r3, 36])
    label(NEXT_CLASS)
    ldr(r4, [r3, 12])
    add(r4, 1)
    str(r4, [r3, 12])
    b(CLASS)
    label(FALLBACK)
    mov(r0, 1)
    mvn(r0, r0)                     # -2
    b(END)
    label(DONE)
    ldr(r0, [r3, 36])
    b(END)

    # -- ADD: r4:r5 = r4:r5 + r6:r7, non-negative doubles (high:low words), rounded to
    #    nearest even. Clobbers r0-r2, r6, r7, r12 and cell 11; keeps r3. -------------------
    label(ADD)
    cmp(r4, r6)
    bhi(ADD_ORDERED)
    bcc(ADD_SWAP)
    cmp(r5, r7)
    bcs(ADD_ORDERED)
    label(ADD_SWAP)
    mov(r0, r4)
    mov(r4, r6)
    mov(r6, r0)
    mov(r0, r5)
    mov(r5, r7)
    mov(r7, r0)
    label(ADD_ORDERED)              # a >= b
    mov(r0, r6)
    orr(r0, r7)
    beq(ADD_RETURN)                 # b = 0
    lsr(r0, r4, 20)                 # ea
    cmp(r0, 0)
    bne(ADD_NORMAL)
    add(r5, r5, r7)                 # both subnormal: their bits add exactly
    adc(r4, r6)
    bx(lr)
    label(ADD_NORMAL)
    lsr(r1, r6, 20)                 # eb
    movwt(r2, 0xFFFFF)
    and_(r6, r2)
    cmp(r1, 0)
    beq(ADD_B_SUBNORMAL)
    movwt(r2, 0x100000)
    orr(r6, r2)                     # b's implicit bit
    b(ADD_B_DONE)
    label(ADD_B_SUBNORMAL)
    mov(r1, 1)
    label(ADD_B_DONE)
    sub(r1, r0, r1)                 # d = ea - eb
    cmp(r1, 54)
    bge(ADD_RETURN)                 # b below half an ulp of a: a + b rounds to a
    str(r0, [r3, 44])
    movwt(r2, 0xFFFFF)
    and_(r4, r2)
    movwt(r2, 0x100000)
    orr(r4, r2)                     # a's 53-bit mantissa
    lsr(r2, r5, 22)                 # M = ma << 10
    lsl(r4, r4, 10)
    orr(r4, r2)
    lsl(r5, r5, 10)
    lsr(r2, r7, 22)                 # N = mb << 10
    lsl(r6, r6, 10)
    orr(r6, r2)
    lsl(r7, r7, 10)
    cmp(r1, 32)                     # N >> d; r12: nonzero if a 1 fell off
    bge(ADD_FAR)
    mov(r0, 32)
    sub(r0, r0, r1)                 # 32 - d (a shift by 32 gives 0)
    mov(r2, r7)
    lsl(r2, r0)
    mov(r12, r2)
    lsr(r7, r1)
    mov(r2, r6)
    lsl(r2, r0)
    orr(r7, r2)
    lsr(r6, r1)
    b(ADD_SUM)
    label(ADD_FAR)
    sub(r1, 32)                     # d - 32
    mov(r0, 32)
    sub(r0, r0, r1)
    mov(r2, r6)
    lsl(r2, r0)
    orr(r2, r7)
    mov(r12, r2)
    mov(r7, r6)
    lsr(r7, r1)
    mov(r6, 0)
    label(ADD_SUM)
    add(r5, r5, r7)
    adc(r4, r6)                     # S = M + N < 2**64
    ldr(r0, [r3, 44])               # e = ea
    cmp(r4, 0)
    bge(ADD_ROUND)                  # bit 63 clear
    mov(r1, 1)
    and_(r1, r5)
    mov(r2, r12)
    orr(r2, r1)
    mov(r12, r2)
    lsr(r5, r5, 1)
    lsl(r1, r4, 31)
    orr(r5, r1)
    lsr(r4, r4, 1)
    add(r0, 1)
    label(ADD_ROUND)                # S: 63 bits; keep 53
    movwt(r1, 0x3FF)
    and_(r1, r5)                    # the 10 dropped bits
    lsr(r5, r5, 10)
    lsl(r2, r4, 22)
    orr(r5, r2)
    lsr(r4, r4, 10)
@ADD_ROUND@
    sub(r0, 1)                      # bits = ((e - 1) << 52) + R
    lsl(r0, r0, 20)
    add(r4, r4, r0)
    label(ADD_RETURN)
    bx(lr)

    # -- DIV: r4:r5 = r4:r5 / r6 (a non-negative double, n >= 1), rounded to nearest even;
    #    r4 = 0xFFFFFFFF when not exact here (n > 255, a subnormal dividend or quotient). ----
    label(DIV)
    mov(r0, r4)
    orr(r0, r5)
    beq(DIV_RETURN)                 # 0 / n
    cmp(r6, 255)
    bhi(DIV_FAIL)
    lsr(r0, r4, 20)                 # ea
    cmp(r0, 0)
    beq(DIV_FAIL)
    str(r0, [r3, 44])
    movwt(r2, 0xFFFFF)
    and_(r4, r2)
    movwt(r2, 0x100000)
    orr(r4, r2)                     # m
    lsr(r2, r5, 21)                 # M = m << 11: bit 63 set
    lsl(r4, r4, 11)
    orr(r4, r2)
    lsl(r5, r5, 11)
@LONG_DIVISION@
    mov(r12, r0)
    clz(r1, r7)                     # k: Q << k has bit 63 set
    mov(r0, 32)
    sub(r0, r0, r1)
    mov(r2, r4)
    lsr(r2, r0)
    lsl(r7, r1)
    orr(r7, r2)
    lsl(r4, r1)
    ldr(r0, [r3, 44])
    sub(r0, r0, r1)                 # exponent field ea - k
    movwt(r1, 0x7FF)
    and_(r1, r4)                    # the 11 dropped bits (the remainder's are below them)
    lsr(r4, r4, 11)
    lsl(r2, r7, 21)
    orr(r4, r2)
    lsr(r7, r7, 11)
    mov(r5, r4)
    mov(r4, r7)                     # R: 53 bits
@DIV_ROUND@
    cmp(r0, 1)
    blt(DIV_FAIL)                   # a subnormal quotient
    sub(r0, 1)
    lsl(r0, r0, 20)
    add(r4, r4, r0)
    label(DIV_RETURN)
    bx(lr)
    label(DIV_FAIL)
    mov(r4, 0)
    mvn(r4, r4)
    bx(lr)
    label(END)
"""


def _loop_head(counter: int, limit: int, done: str, cells: int) -> str:
    """A loop's head: r4 = the counter (scratch cell), leave to `done` when it reaches the
    parameter `limit`; else r5 = work[p[cells] + counter] (r2 = p, r0 = work)."""
    return "\n".join("    " + line for line in (
        f"ldr(r4, [r3, {4 * counter}])", "ldr(r2, [r3, 8])", f"ldr(r5, [r2, {4 * limit}])",
        "cmp(r4, r5)", f"bge_w({done})", "ldr(r0, [r3, 0])", f"ldr(r5, [r2, {4 * cells}])",
        "add(r5, r5, r4)", "lsl(r5, r5, 2)", "add(r5, r5, r0)", "ldr(r5, [r5, 0])"))


def _round(prefix: str, half: int) -> str:
    """Round r4:r5 (R, 53 bits with the implicit one) to nearest even: r1 the dropped bits
    (`half`: exactly half an ulp), r12 nonzero if a 1 fell off below them; a carry out to
    2**53 shifts R and bumps the exponent field r0. Ends at label(<prefix>_PACK)."""
    return "\n".join("    " + line for line in (
        f"movwt(r2, {half:#x})", "cmp(r1, r2)", f"bhi({prefix}_UP)", f"bcc({prefix}_PACK)",
        "mov(r2, r12)", "cmp(r2, 0)", f"bne({prefix}_UP)",         # half: up if sticky
        "mov(r2, 1)", "tst(r5, r2)", f"beq({prefix}_PACK)",         # or odd
        f"label({prefix}_UP)", "add(r5, 1)", "mov(r2, 0)", "adc(r4, r2)",
        "movwt(r2, 0x200000)", "cmp(r4, r2)", f"bne({prefix}_PACK)",
        "lsr(r4, r4, 1)", "add(r0, 1)", f"label({prefix}_PACK)"))


def _long_division() -> str:
    """Q = M / n, M = r4:r5 and n = r6 < 2**8, 16 bits at a time (each partial dividend is
    below n * 2**16, so udiv is exact): Q to r7:r4 (Q >= 2**55), the remainder to r0."""
    def step(q):
        return [f"udiv({q}, r0, r6)", f"mov(r2, {q})", "mul(r2, r6)", "sub(r0, r0, r2)"]
    low16 = ["lsl(r2, r2, 16)", "lsr(r2, r2, 16)"]
    lines = (["lsr(r0, r4, 16)"] + step("r7")
             + ["lsl(r0, r0, 16)", "mov(r2, r4)", *low16, "orr(r0, r2)"] + step("r1")
             + ["lsl(r7, r7, 16)", "orr(r7, r1)"]                        # Q's high word
             + ["lsl(r0, r0, 16)", "lsr(r2, r5, 16)", "orr(r0, r2)"] + step("r1")
             + ["mov(r4, r1)", "lsl(r0, r0, 16)", "mov(r2, r5)", *low16, "orr(r0, r2)"]
             + step("r1") + ["lsl(r4, r4, 16)", "orr(r4, r1)"])          # its low word
    return "\n".join("    " + line for line in lines)


def settle_f64_source() -> str:
    """Source of ``settle_f64`` (appended to a Thumb-2 core's kernels module)."""
    # classes: j (cell 3) up to n_outputs (p[3]), sum[j]; trees: t (cell 4) up to n_trees
    # (p[4]), the leaf tree t reached.
    parts = {"@CLASS_HEAD@": _loop_head(3, 3, "DONE", 1),
             "@TREE_HEAD@": _loop_head(4, 4, "TREES_DONE", 2),
             "@ADD_ROUND@": _round("ADD", 0x200), "@DIV_ROUND@": _round("DIV", 0x400),
             "@LONG_DIVISION@": _long_division()}
    source = _SOURCE
    for key, code in parts.items():
        source = source.replace(key, code)
    return source


def _body() -> list:
    """The instructions of settle_f64 (after its def line)."""
    return settle_f64_source().strip().splitlines()[2:]


def settle_f64_body(prefix: str) -> list:
    """settle_f64's instructions with its labels prefixed, for inlining into another
    machine-code function (trees/inline_thumb.py): entered with r0-r3 as its arguments,
    leaves the result in r0 at ``label(<prefix>END)``."""
    label = re.compile(r"\b(label|b[a-z_]*)\(([A-Z_]+)\)")
    return [label.sub(lambda m: f"{m.group(1)}({prefix}{m.group(2)})", line.strip())
            for line in _body() if line.strip() and not line.strip().startswith("#")]
