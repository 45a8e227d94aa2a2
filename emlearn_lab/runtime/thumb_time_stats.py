"""TimeStats' per-window work in Thumb-2 machine code, for Cortex-M3/M4/M7 (ARMv7-M).

The viper kernel (device_src/emlfx_time.py ``_all_series``) takes ~20-30 instructions per
simple statement on these cores: ~585 000 per 2 s x 3-axis x 100 Hz window with every
statistic and the magnitude, plus ~60 000 for the standard deviation in Python integers.
This module (``emlfx_time_thumb``, one ``@micropython.asm_thumb`` function) computes the same
p[] block values (device_src/emlfx_time.py documents them) and writes the selected features:

- per series one gathering pass: the samples (or the magnitude, an integer square root by
  Newton's iteration with ``udiv``) into u, their sum, 64-bit sum of squares (``smlal``),
  least and most;
- one pass for the mean crossings (around floor(sum / n)) that also stores t = v - least and
  counts its low digit;
- the order statistics from an LSD radix sort of t: one pass for a spread below 256, else two
  (digits of ceil(L/2) and the rest of the spread's L bits, so each count array is small);
- mean, rms and std in 32-bit words: the 80-bit numerators (2**16 * sum(v*v), 2**16 * (n *
  sum(v*v) - sum(v)**2)) divided by n in 16-bit chunks, then a digit-by-digit square root.

Every result is an exact integer definition (floor division, floor square root, the sorted
window's values), so it equals the reference's for every window; tests/test_mcu.py proves it
on the emulated Cortex-M3 against the host. ``stats(window, p, scratch, out)``: the scratch
array (``scratch(n, sel, std)``) holds a frame, two count arrays and the u, w buffers.
"""

from .thumb2_asm import (ldr_w, ldr_x4, ldrsh_r, ldrsh_w, mla, mls, shift_reg, shifted, smlal,
                         smull, str_w, str_x4, umull)
from .thumb_asm import ldmia, ldr, ldrh, ldrsh, stmia, strh, uxth

__all__ = ["time_stats_source", "FRAME_WORDS"]

# Scratch layout, in 32-bit words: the frame, cnt1 and cnt2 (256 counts each), then u and w
# (n + 2 halfwords each: the interpolation may read one past the last sample).
FRAME_WORDS = 48
_CNT1 = 4 * FRAME_WORDS
_CNT2 = _CNT1 + 1024
_U = _CNT2 + 1024
# Frame cells (byte offsets from r11).
_F = {name: 4 * i for i, name in enumerate(
    ("win", "p", "out", "k", "q", "least", "sum", "sslo", "sshi", "c0", "c1", "c2", "c3",
     "c4", "spread", "b1", "bins1", "m", "at", "std", "n2"))}
_SEL = 4 * 24                  # 4 * statistic index, per selected statistic (up to 10)
_BIAS_SHIFT = 24


def _gather() -> list:
    """r0 = the first sample, r1 = stride in bytes, r4 = n -> u[0:n] = the samples; frame
    sum, least, sslo/sshi; r5 = sum(v), r6 = least, r7 = most. Backward: n-1 down to 0."""
    return [
        "sub(r3, r4, 1)", "mov(r2, r1)", "mul(r2, r3)", "add(r0, r0, r2)",
        "lsl(r3, r3, 1)",                                   # j: byte offset of u[n-1]
        "mov(r2, r11)", f"movw(r5, {_U})", "add(r2, r2, r5)",
        "mov(r5, 0)", "mov(r8, r5)", "mov(r9, r5)",
        ldrsh_w(6, 0), "mov(r7, r6)",
        "label(GATHER)",
        ldrsh_w(4, 0),
        strh(4, 2, 3),
        "add(r5, r5, r4)",
        smlal(8, 9, 4, 4),
        "cmp(r4, r6)", "it(lt)", "mov(r6, r4)",
        "cmp(r4, r7)", "it(gt)", "mov(r7, r4)",
        "sub(r0, r0, r1)",
        "sub(r3, 2)",
        "bge(GATHER)",
    ]


def _isqrt_step() -> list:
    """r5 = floor((r5 + floor(r4 / r5)) / 2): one Newton step (>= isqrt(r4) afterwards,
    whatever r5 > 0 was)."""
    return ["udiv(r6, r4, r5)", "add(r5, r5, r6)", "lsr(r5, r5, 1)"]


def _magnitude(axes: int) -> list:
    """u[j] = isqrt(sum over the axes of (v*v) >> 2), rows n-1 down to 0. r0 = the last
    row, r1 = stride, r2 = u, r3 = its byte offset; the axes' byte offsets in r8, r9, r12."""
    tag = f"M{axes}"
    lines = [f"label({tag})", ldrsh_r(4, 0, 8), "mul(r4, r4)", "asr(r4, r4, 2)"]
    for reg in (9, 12)[:axes - 1]:
        lines += [ldrsh_r(5, 0, reg), "mul(r5, r5)", "asr(r5, r5, 2)", "add(r4, r4, r5)"]
    lines += [
        "mov(r5, 0)", "cmp(r4, 0)", f"beq({tag}_STORE)",
        # seed 2**ceil(bits / 2) >= sqrt(s): four steps reach isqrt(s) or isqrt(s) + 1
        # (relative error 1 -> 1/4 -> 1/40 -> 3e-4 -> 5e-8), the loop below makes it exact.
        "clz(r6, r4)", "mov(r7, 33)", "sub(r6, r7, r6)", "lsr(r6, r6, 1)", "mov(r5, 1)",
        "lsl(r5, r6)",
        *(_isqrt_step() * 4),
        f"label({tag}_FIX)", "mov(r6, r5)", "mul(r6, r6)", "cmp(r6, r4)", f"bls({tag}_STORE)",
        "sub(r5, 1)", f"b({tag}_FIX)",
        f"label({tag}_STORE)", strh(5, 2, 3), "sub(r0, r0, r1)", "sub(r3, 2)",
        f"bge_w({tag})",
    ]
    return lines


def _crossings(order: bool) -> list:
    """Crossings of floor(mean) (r1 = q) over u (r0), backward from r3; r7 counts them. With
    order: also u[j] = t = v - least (r2) and cnt1[t & mask (r9)] += 2 (r8 = cnt1)."""
    tag = "XO" if order else "X"
    lines = [f"label({tag})", ldrsh(4, 0, 3),
             "sub(r5, r1, r4)", "lsr(r5, r5, 31)",          # now = v > q
             "eor(r6, r5)", "add(r7, r7, r6)", "mov(r6, r5)"]
    if order:
        lines += ["sub(r4, r4, r2)", strh(4, 0, 3), shifted("and", 5, 4, 9), ldr_x4(4, 8, 5),
                  "add(r4, 2)", str_x4(4, 8, 5)]
    return lines + ["sub(r3, 2)", f"bge({tag})"]


def _scatter(tag: str, src: int, dst: int, cnt: int, digit: list, count2: bool) -> list:
    """Stable backward scatter of t from src to dst by digit (lines computing r5 from r4),
    positions from the running ends in cnt (byte offsets). count2: cnt2[t >> b1] += 2 too
    (r8 = cnt2, r9 = b1)."""
    lines = [f"label({tag})", ldrh(4, src, 3), *digit, ldr_x4(6, cnt, 5), "sub(r6, 2)",
             str_x4(6, cnt, 5), strh(4, dst, 6)]
    if count2:
        lines += [shift_reg("lsr", 5, 4, 9), ldr_x4(6, 8, 5), "add(r6, 2)", str_x4(6, 8, 5)]
    return lines + ["sub(r3, 2)", f"bge({tag})"]


def _subroutines() -> list:
    """CLEAR(r0 = counts, r1 = words), PREFIX (running sums in place), SPLIT (r1:r0 << 16
    into the frame's five 16-bit chunks c0..c4), DIV5 (the chunks divided by r4 < 2**15),
    ROOT (r2 = floor(sqrt(r0 * 2**32 + r1)), r0 < 2**16). Each returns with bx(lr)."""
    f = _F
    step = ["lsl(r3, r3, 2)", "orr(r3, r5)", "lsl(r6, r2, 2)", "add(r6, 1)", "lsl(r2, r2, 1)",
            "cmp(r3, r6)"]
    return [
        "label(CLEAR)", "lsl(r1, r1, 2)", "add(r1, r1, r0)", "mov(r4, 0)", "mov(r5, 0)",
        "mov(r6, 0)", "mov(r7, 0)",
        "label(CLEAR_LOOP)", stmia(0, (4, 5, 6, 7)), "cmp(r0, r1)", "bcc(CLEAR_LOOP)",
        "bx(lr)",
        "label(PREFIX)", "lsl(r1, r1, 2)", "add(r1, r1, r0)", "mov(r2, r0)", "mov(r3, 0)",
        "label(PREFIX_LOOP)", ldmia(0, (4, 5, 6, 7)), "add(r4, r4, r3)", "add(r5, r5, r4)",
        "add(r6, r6, r5)", "add(r7, r7, r6)", "mov(r3, r7)", stmia(2, (4, 5, 6, 7)),
        "cmp(r0, r1)", "bcc(PREFIX_LOOP)", "bx(lr)",
        "label(SPLIT)", "lsr(r2, r1, 16)", str_w(2, 11, f["c0"]), uxth(2, 1),
        str_w(2, 11, f["c1"]), "lsr(r2, r0, 16)", str_w(2, 11, f["c2"]), uxth(2, 0),
        str_w(2, 11, f["c3"]), "mov(r2, 0)", str_w(2, 11, f["c4"]), "bx(lr)",
        "label(DIV5)", "mov(r0, r11)", f"add(r0, {f['c0']})", "mov(r1, 0)", "mov(r2, 5)",
        "label(DIV5_LOOP)", "ldr(r3, [r0, 0])", "lsl(r1, r1, 16)", "orr(r3, r1)",
        "udiv(r5, r3, r4)", "str(r5, [r0, 0])", mls(1, 5, 4, 3), "add(r0, 4)", "sub(r2, 1)",
        "bne(DIV5_LOOP)", "bx(lr)",
        "label(ROOT)", "lsl(r0, r0, 16)", "mov(r2, 0)", "mov(r3, 0)", "mov(r4, 8)",
        "label(ROOT_HI)", "lsr(r5, r0, 30)", "lsl(r0, r0, 2)", *step, "bcc(ROOT_HI_NEXT)",
        "sub(r3, r3, r6)", "add(r2, 1)",
        "label(ROOT_HI_NEXT)", "sub(r4, 1)", "bne(ROOT_HI)", "mov(r4, 16)",
        "label(ROOT_LO)", "lsr(r5, r1, 30)", "lsl(r1, r1, 2)", *step, "bcc(ROOT_LO_NEXT)",
        "sub(r3, r3, r6)", "add(r2, 1)",
        "label(ROOT_LO_NEXT)", "sub(r4, 1)", "bne(ROOT_LO)", "bx(lr)",
    ]


def _root_of_chunks(cell: int) -> list:
    """Block cell = floor(sqrt(c2 * 2**32 + (c3 << 16 | c4))) + bias (c0 = c1 = 0 here)."""
    f = _F
    return [ldr_w(0, 11, f["c2"]), ldr_w(1, 11, f["c3"]), "lsl(r1, r1, 16)",
            ldr_w(2, 11, f["c4"]), "orr(r1, r2)", "bl(ROOT)", "mov(r3, 1)",
            f"lsl(r3, r3, {_BIAS_SHIFT})", "add(r2, r2, r3)", str_w(2, 10, 4 * cell)]


def _moments() -> list:
    """Block cells 0-3, 5, 6 and 11 (rms), 4 (std, when wanted) from the frame's sum and sum
    of squares; frame q = floor(sum / n). r5 = sum(v), r6 least, r7 most, r9:r8 squares."""
    f = _F
    return [
        str_w(6, 11, f["least"]), str_w(5, 11, f["sum"]),
        "mov(r0, r8)", str_w(0, 11, f["sslo"]), "mov(r0, r9)", str_w(0, 11, f["sshi"]),
        "sub(r0, r7, r6)", str_w(0, 11, f["spread"]),
        ldr_w(1, 11, f["p"]), "ldr(r4, [r1, 0])",
        "lsl(r0, r4, 15)", "add(r0, r0, r5)", str_w(0, 10, 0),            # h+0 sum(u)
        "mov(r0, r9)", "lsl(r0, r0, 2)", "mov(r1, r8)", "lsr(r2, r1, 30)", "orr(r0, r2)",
        str_w(0, 10, 4), "lsl(r1, r1, 2)", "lsr(r1, r1, 2)", str_w(1, 10, 8),
        "mov(r3, 1)", f"lsl(r3, r3, {_BIAS_SHIFT})",
        "lsl(r0, r6, 8)", "add(r0, r0, r3)", str_w(0, 10, 20),            # least
        "lsl(r0, r7, 8)", "add(r0, r0, r3)", str_w(0, 10, 24),            # most
        "sdiv(r0, r5, r4)", mls(1, 0, 4, 5),                              # toward zero
        "cmp(r1, 0)", "itt(lt)", "sub(r0, 1)", "add(r1, r1, r4)",         # floor
        str_w(0, 11, f["q"]),
        "lsl(r1, r1, 8)", "udiv(r1, r1, r4)", "lsl(r2, r0, 8)", "add(r2, r2, r1)",
        "add(r2, r2, r3)", str_w(2, 10, 12),                              # mean
        # rms: isqrt(floor(2**16 * squares / n))
        "mov(r0, r8)", "mov(r1, r9)", "bl(SPLIT)", "bl(DIV5)", *_root_of_chunks(11),
        ldr_w(0, 11, f["std"]), "cmp(r0, 0)", "beq(NO_STD)",
        # std: isqrt(floor(2**16 * (n * squares - sum**2) / n / n))
        ldr_w(1, 11, f["p"]), "ldr(r4, [r1, 0])", ldr_w(2, 11, f["sslo"]),
        ldr_w(3, 11, f["sshi"]), umull(0, 1, 2, 4), mla(1, 3, 4, 1),
        ldr_w(5, 11, f["sum"]), smull(2, 3, 5, 5), "sub(r0, r0, r2)", "sbc(r1, r3)",
        "bl(SPLIT)", "bl(DIV5)", "bl(DIV5)", *_root_of_chunks(4),
        "label(NO_STD)",
    ]


def _quantile(mult: int, cell: int) -> list:
    """Block cell = 256 * the sorted window's value at quarter position mult * (n - 1),
    interpolated (r0 = the sorted t, r4 = n - 1, r6 = least) + bias."""
    tag = f"Q{cell}"
    pos = {1: ["mov(r1, r4)"], 2: ["lsl(r1, r4, 1)"], 3: ["lsl(r1, r4, 1)", "add(r1, r1, r4)"]}
    return [*pos[mult], "lsr(r2, r1, 2)", "lsl(r2, r2, 1)", ldrh(3, 0, 2), "add(r2, 2)",
            ldrh(7, 0, 2), "sub(r7, r7, r3)", "lsl(r1, r1, 30)", "lsr(r1, r1, 30)",
            "mul(r7, r1)", "add(r3, r3, r6)", "lsl(r5, r3, 8)", "cmp(r1, 0)",
            f"beq({tag})", "lsl(r5, r3, 2)", "add(r5, r5, r7)", "lsl(r5, r5, 6)",
            f"label({tag})", "mov(r3, 1)", f"lsl(r3, r3, {_BIAS_SHIFT})", "add(r5, r5, r3)",
            str_w(5, 10, 4 * cell)]


def _order() -> list:
    """Crossings (block cell 12) and, when p[3], the sort and cells 7-10."""
    f = _F
    u_base = ["mov(r0, r11)", f"movw(r2, {_U})", "add(r0, r0, r2)"]
    cnt = lambda reg, off: ["mov(r%d, r11)" % reg, f"movw(r1, {off})",
                            "add(r%d, r%d, r1)" % (reg, reg)]
    # r4 = n, r3 = 2 * (n - 1), r2 = u, r0 = w (n + 2 halfwords after u), r1 = cnt1
    buffers = [ldr_w(1, 11, f["p"]), "ldr(r4, [r1, 0])", "sub(r3, r4, 1)", "lsl(r3, r3, 1)",
               "mov(r2, r11)", f"movw(r5, {_U})", "add(r2, r2, r5)", "lsl(r0, r4, 1)",
               "add(r0, 4)", "add(r0, r0, r2)", "mov(r1, r11)", f"movw(r5, {_CNT1})",
               "add(r1, r1, r5)"]
    return [
        ldr_w(1, 11, f["p"]), "ldr(r4, [r1, 0])", "ldr(r2, [r1, 12])", "cmp(r2, 0)",
        "bne_w(ORDERED)",
        *u_base, ldr_w(1, 11, f["q"]), "sub(r3, r4, 1)", "lsl(r3, r3, 1)",
        ldrsh(4, 0, 3), "sub(r6, r1, r4)", "lsr(r6, r6, 31)", "mov(r7, 0)",
        *_crossings(False), "b(CROSSED)",
        "label(ORDERED)",
        # b1: digit bits (8 for a single pass over a spread below 256), bins1 its counts
        ldr_w(0, 11, f["spread"]), "clz(r1, r0)", "mov(r2, 32)", "sub(r1, r2, r1)",
        "mov(r2, 8)", "add(r3, r0, 1)", "cmp(r1, 8)", "ble(ONE_PASS)",
        "add(r2, r1, 1)", "lsr(r2, r2, 1)", "mov(r3, 1)", "lsl(r3, r2)",
        "label(ONE_PASS)", str_w(2, 11, f["b1"]), str_w(3, 11, f["bins1"]),
        *cnt(0, _CNT1), "mov(r1, r3)", "bl(CLEAR)",
        ldr_w(2, 11, f["b1"]), "mov(r3, 1)", "lsl(r3, r2)", "sub(r3, 1)", "mov(r9, r3)",
        *cnt(3, _CNT1), "mov(r8, r3)",
        ldr_w(1, 11, f["p"]), "ldr(r4, [r1, 0])",
        *u_base, ldr_w(1, 11, f["q"]), ldr_w(2, 11, f["least"]), "sub(r3, r4, 1)",
        "lsl(r3, r3, 1)",
        ldrsh(4, 0, 3), "sub(r6, r1, r4)", "lsr(r6, r6, 31)", "mov(r7, 0)",
        *_crossings(True),
        str_w(7, 11, f["n2"]),                  # crossings, kept over the sort
        *cnt(0, _CNT1), ldr_w(1, 11, f["bins1"]), "bl(PREFIX)",
        *buffers,
        # r2 = u, r0 = w, r1 = cnt1, r9 = mask1
        ldr_w(5, 11, f["spread"]), "cmp(r5, 255)", "bhi_w(TWO_PASSES)",
        "mov(r7, r9)",
        *_scatter("S1", 2, 0, 1, [shifted("and", 5, 4, 7)], False),
        "b(SORTED)",
        "label(TWO_PASSES)",
        # cnt2: (spread >> b1) + 1 counts of the high digit
        "push({r0, r1, r2})", ldr_w(2, 11, f["b1"]), "lsr(r5, r2)", "add(r5, 1)",
        str_w(5, 11, f["bins1"]), *cnt(0, _CNT2), "mov(r1, r5)", "bl(CLEAR)",
        "pop({r0, r1, r2})", ldr_w(3, 11, f["b1"]), "mov(r7, r9)", "mov(r9, r3)",
        "mov(r3, r11)", "movw(r5, %d)" % _CNT2, "add(r3, r3, r5)", "mov(r8, r3)",
        ldr_w(5, 11, f["p"]), "ldr(r4, [r5, 0])", "sub(r3, r4, 1)", "lsl(r3, r3, 1)",
        *_scatter("S2A", 2, 0, 1, [shifted("and", 5, 4, 7)], True),
        "push({r0, r2})", *cnt(0, _CNT2), ldr_w(1, 11, f["bins1"]), "bl(PREFIX)",
        "pop({r0, r2})", "mov(r1, r8)", ldr_w(5, 11, f["p"]), "ldr(r4, [r5, 0])",
        "sub(r3, r4, 1)", "lsl(r3, r3, 1)",
        *_scatter("S2B", 0, 2, 1, [shift_reg("lsr", 5, 4, 9)], False),
        "mov(r0, r2)",
        "label(SORTED)",                        # r0: the sorted t
        ldr_w(1, 11, f["p"]), "ldr(r4, [r1, 0])", "sub(r4, 1)", ldr_w(6, 11, f["least"]),
        *_quantile(2, 7), *_quantile(1, 8), *_quantile(3, 9),
        ldr_w(0, 10, 32), ldr_w(1, 10, 36), "sub(r1, r1, r0)", "add(r1, r1, r3)",
        str_w(1, 10, 40),                        # iqr
        ldr_w(7, 11, f["n2"]),
        "label(CROSSED)", "mov(r3, 1)", f"lsl(r3, r3, {_BIAS_SHIFT})", "add(r7, r7, r3)",
        str_w(7, 10, 48),
    ]


def _series() -> list:
    """The loop over series k: the block pointer in r10, the samples (or magnitudes) into u,
    then moments and order statistics."""
    f = _F
    return [
        "label(SERIES)", ldr_w(0, 11, f["k"]), ldr_w(1, 11, f["p"]), "ldr(r2, [r1, 8])",
        "cmp(r0, r2)", "bge_w(EMIT)",
        "mov(r3, 13)", "mul(r3, r0)", "add(r3, r3, r2)", "add(r3, 8)", "lsl(r3, r3, 2)",
        "add(r3, r3, r1)", "mov(r10, r3)",
        "lsl(r3, r0, 2)", "add(r3, r3, r1)", "ldr(r3, [r3, 32])",                 # channel
        "add(r0, 1)", str_w(0, 11, f["k"]),
        "ldr(r4, [r1, 0])", "cmp(r3, 255)", "beq_w(MAG)",
        ldr_w(0, 11, f["win"]), "lsl(r3, r3, 1)", "add(r0, r0, r3)",
        "ldr(r1, [r1, 4])", "lsl(r1, r1, 1)", "b(STATS)",
        "label(MAG)",
        "ldr(r2, [r1, 20])", "lsl(r2, r2, 1)", "mov(r8, r2)",
        "ldr(r2, [r1, 24])", "lsl(r2, r2, 1)", "mov(r9, r2)",
        "ldr(r2, [r1, 28])", "lsl(r2, r2, 1)", "mov(r12, r2)",
        "ldr(r5, [r1, 16])", "ldr(r1, [r1, 4])", "lsl(r1, r1, 1)",
        ldr_w(0, 11, f["win"]), "sub(r3, r4, 1)", "mov(r2, r1)", "mul(r2, r3)",
        "add(r0, r0, r2)", "lsl(r3, r3, 1)",
        "mov(r2, r11)", f"movw(r6, {_U})", "add(r2, r2, r6)",
        "cmp(r5, 3)", "beq_w(M3)",
        *_magnitude(2), "b(MAG_DONE)",
        *_magnitude(3),
        "label(MAG_DONE)",
        ldr_w(1, 11, f["p"]), "ldr(r4, [r1, 0])",
        "mov(r0, r11)", f"movw(r2, {_U})", "add(r0, r0, r2)", "mov(r1, 2)",
        "label(STATS)",
        *_gather(), *_moments(), *_order(),
        "b(SERIES)",
    ]


def _emit() -> list:
    """out[at:] = for each series, the selected statistics (block cell 3 + index) - bias."""
    f = _F
    return [
        "label(EMIT)", ldr_w(1, 11, f["p"]), "ldr(r2, [r1, 8])", ldr_w(0, 11, f["out"]),
        ldr_w(3, 11, f["at"]), "lsl(r3, r3, 2)", "add(r0, r0, r3)",
        "mov(r3, r2)", "add(r3, 8)", "lsl(r3, r3, 2)", "add(r1, r1, r3)", "add(r1, 12)",
        "mov(r7, 1)", f"lsl(r7, r7, {_BIAS_SHIFT})", ldr_w(6, 11, f["m"]),
        "label(EMIT_SERIES)", "mov(r3, r11)", f"add(r3, {_SEL})", "mov(r4, r6)",
        "label(EMIT_STAT)", "ldr(r5, [r3, 0])", ldr(5, 1, 5), "sub(r5, r5, r7)",
        stmia(0, (5,)), "add(r3, 4)", "sub(r4, 1)", "bne(EMIT_STAT)",
        "add(r1, 52)", "sub(r2, 1)", "bne(EMIT_SERIES)",
        "pop({r8, r9, r10, r11})", "mov(r0, 0)", "b(END)",
    ]


def _body() -> list:
    f = _F
    return [
        "push({r8, r9, r10, r11})", "mov(r11, r2)",
        str_w(0, 11, f["win"]), str_w(1, 11, f["p"]), str_w(3, 11, f["out"]),
        "mov(r4, 0)", str_w(4, 11, f["k"]),
        *_series(), *_emit(), *_subroutines(), "label(END)",
    ]


def time_stats_source() -> str:
    """Source of the ``emlfx_time_thumb`` module: ``scratch(n, sel, std)`` (its work array)
    and ``stats(window, p, scratch, out)``."""
    body = "\n".join("    " + line for line in _body())
    return f'''# TimeStats in Thumb-2 machine code (generated by emlearn_lab/runtime/thumb_time_stats.py).
import array
import micropython

FRAME = {FRAME_WORDS}
AT = {_F["at"] // 4}


def scratch(n, sel, std):
    # The work array of stats(): frame (selected statistics, std flag), counts, u and w.
    s = array.array("i", bytes(4 * (FRAME + 512) + 4 * (n + 2)))
    s[{_F["m"] // 4}] = len(sel)
    s[{_F["std"] // 4}] = 1 if std else 0
    for i in range(len(sel)):
        s[{_SEL // 4} + i] = 4 * sel[i]
    return s


@micropython.asm_thumb
def stats(r0, r1, r2, r3):
{body}
'''
