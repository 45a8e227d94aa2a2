"""float32 network layers in integer Thumb-2 code, for Cortex-M3/M4 cores without an FPU.

MicroPython's floats are boxed objects: the bytecode float32 path (device_src/emlnet_float.py)
takes ~4.1 M instructions and allocates at every operation for a 64-32-10 MLP on a Cortex-M3.
This module (``emlnet_soft``, ``@micropython.asm_thumb``) runs the dense layers, ReLU and argmax
as machine code with IEEE binary32 multiply and add written in integer instructions, bit for
bit the host's arithmetic (nets/float32.py): for each neuron acc = bias, then
acc = acc + w * a for each input in order, the product rounded, then the sum rounded, to
nearest with ties to even; subnormal operands and results kept; overflow to inf; inf and NaN
propagate (any NaN for a NaN result). sigmoid and tanh stay in bytecode as in emlnet_fpu.

Each multiply-accumulate takes a fast path when both product operands and both addends are
normal and the results stay normal (~70 instructions), a shorter one for a zero input (ReLU
outputs: ~10), and otherwise a general routine (subnormals, zeros, inf, NaN; ~60 more).
Rounding keeps 7 bits below the 24-bit significand with the bits shifted out further down
folded into the lowest ("sticky"), enough for one correct rounding of a product or a sum.

Registers in the multiply-accumulate: r0 the accumulator, r1 the weight, r2 the input, r3 the
product, r4-r7 scratch, r8/r9 the weight/input pointers, r10 the inputs left, r11 0x80000000.
"""
from .thumb2_asm import bfi, ldr_post, orr_imm1, shift_reg, shifted, subs_imm1, ubfx, umull
from .thumb_asm import add_sp, ldr_sp, str_sp, sub_sp
from .thumb_fpu_net import BIND_SOURCE

__all__ = ["SOFT_ARCHS", "soft_net_source", "soft_mac_source"]

# mpy-cross -march values of Thumb-2 cores that get this module: ARMv7-M without an FPU (the
# emulated Cortex-M3 reports armv7em). Cores with one take emlnet_fpu (thumb_fpu_net.py).
SOFT_ARCHS = frozenset({"armv7m", "armv7em"})


def _round(v: str, t: str) -> list:
    """v (significand at bits 30..7, sticky in bit 0) rounded to nearest even and shifted
    down: 24 bits, or 2**24 when rounding carries (the packing adds it to the exponent)."""
    return [ubfx(int(t[1:]), int(v[1:]), 7, 1), f"add({t}, 0x3F)", f"add({v}, {v}, {t})",
            f"lsr({v}, {v}, 7)"]


def _sticky_shift(dst: str, src: str, by: str, t: str) -> list:
    """dst = src >> by (by < 32), with bit 0 set when a 1 was shifted out."""
    d, s, b, tt = (int(r[1:]) for r in (dst, src, by, t))
    return [shift_reg("lsr", d, s, b), shift_reg("lsl", tt, d, b), f"cmp({t}, {src})",
            "it(ne)", orr_imm1(d, d)]


def _mul_fast() -> list:
    """r3 = r1 * r2 when both are normal and so is the rounded product; a zero input goes to
    MUL_ZERO, the rest to MUL_SLOW (r1, r2 intact)."""
    return [
        "lsl(r3, r2, 1)", "beq_w(MUL_ZERO)",            # |a| << 1 = 0: a is a zero
        ubfx(4, 1, 23, 8), "lsr(r5, r3, 24)",            # the exponents
        "sub(r6, r4, 1)", "cmp(r6, 253)", "bhi_w(MUL_SLOW)",
        "sub(r6, r5, 1)", "cmp(r6, 253)", "bhi_w(MUL_SLOW)",
        "add(r4, r4, r5)",
        shifted("orr", 5, 11, 1, "lsl", 8),              # significands: w's at bits 31..8,
        shifted("orr", 6, 11, 2, "lsl", 8), "lsr(r6, r6, 1)",      # a's at 30..7
        umull(7, 3, 5, 6),                               # r3:r7 = the product
        "clz(r5, r3)", "sub(r4, r4, r5)",                # top bit at 62 or 61: clz 1 or 2
        "sub(r5, r5, 1)", "lsl(r3, r5)",                 # top at bit 30
        "cmp(r7, 0)", "it(ne)", orr_imm1(3, 3),          # the low word: sticky
        *_round("r3", "r5"),
        "sub(r4, 126)", "cmp(r4, 253)", "bhi_w(MUL_SLOW)",         # exponent field - 1
        shifted("add", 3, 3, 4, "lsl", 23),
        shifted("eor", 5, 1, 2), shifted("and", 5, 5, 11), "orr(r3, r5)",
    ]


def _add_fast(big: str, tb: str, small: str, ts: str, p: str) -> list:
    """r0 = big + small (r0 and r3 in one order or the other; tb, ts their magnitudes << 1,
    tb >= ts) when both are normal and so is the sum; else to ADD_SLOW (r0, r3 intact).
    Labels prefixed with p."""
    keep = [] if big == "r0" else [f"mov(r0, {big})"]
    b_, s_ = int(big[1:]), int(small[1:])
    return [
        f"lsr(r6, {ts}, 24)", "beq_w(ADD_SLOW)",         # small: zero or subnormal
        f"lsr({tb}, {tb}, 24)", f"cmp({tb}, 255)", "beq_w(ADD_SLOW)",
        f"sub(r6, {tb}, r6)", "cmp(r6, 25)", f"bgt({p}KEEP)",      # below a quarter ulp
        shifted("orr", 1, 11, b_, "lsl", 8), "lsr(r1, r1, 1)",     # significands at 30..7
        shifted("orr", 2, 11, s_, "lsl", 8), "lsr(r2, r2, 1)",
        *_sticky_shift("r7", "r2", "r6", ts),
        shifted("eor", int(ts[1:]), 0, 3, flags=True), f"bmi({p}SUB)",
        "add(r1, r1, r7)", f"bmi({p}CARRY)",
        f"label({p}ROUND)", *_round("r1", "r6"),
        f"sub({tb}, {tb}, 1)", shifted("add", 1, 1, int(tb[1:]), "lsl", 23),
        bfi(b_, 1, 0, 31), *keep, "b(NEXT)",             # big's sign, the sum's magnitude
        f"label({p}CARRY)", "lsr(r1, r1, 1)", "it(cs)", orr_imm1(1, 1),
        f"add({tb}, 1)", f"cmp({tb}, 255)", "beq_w(ADD_SLOW)", f"b({p}ROUND)",
        f"label({p}SUB)", "sub(r1, r1, r7)", f"beq({p}ZERO)",
        "clz(r6, r1)", "sub(r6, r6, 1)", f"beq({p}ROUND)",
        f"sub({tb}, {tb}, r6)", "ble_w(ADD_SLOW)",      # a subnormal difference
        "lsl(r1, r6)", f"b({p}ROUND)",
        f"label({p}ZERO)", "mov(r0, 0)", "b(NEXT)",      # x + (-x) = +0
        f"label({p}KEEP)", *keep, "b(NEXT)",
    ]


def _mac() -> list:
    """r0 = r0 + r1 * r2, each rounded: the fast paths, then label(NEXT)."""
    return [*_mul_fast(),
            "label(ADD)", "lsl(r4, r0, 1)", "lsl(r5, r3, 1)", "cmp(r4, r5)", "bcc(ADD_PBIG)",
            *_add_fast("r0", "r4", "r3", "r5", "A_"),
            "label(ADD_PBIG)", *_add_fast("r3", "r5", "r0", "r4", "P_")]


def _unpack_mul(t: str, m: str) -> list:
    """t = x << 1 (finite, nonzero) to the exponent (in t; 1 - shift for a subnormal) and
    the significand normalised to bit 31 (in m). Uses r3."""
    return [f"lsl({m}, {t}, 7)", f"lsr({t}, {t}, 24)", f"beq(UM{t})",
            shifted("orr", int(m[1:]), int(m[1:]), 11), f"b(UMD{t})",
            f"label(UM{t})", f"clz(r3, {m})", f"lsl({m}, r3)", f"mov({t}, 1)",
            f"sub({t}, {t}, r3)", f"label(UMD{t})"]


def _general_mul() -> list:
    """Subroutine GMUL: r3 = r1 * r2 for any operands. Clobbers r4-r7, r12."""
    return [
        "label(GMUL)", shifted("eor", 12, 1, 2), shifted("and", 12, 12, 11),   # the sign
        "lsl(r4, r1, 1)", "lsl(r5, r2, 1)", "movwt(r6, 0xFF000000)",
        "cmp(r4, r6)", "bhi(GM_NAN)", "cmp(r5, r6)", "bhi(GM_NAN)",
        "cmp(r4, r6)", "beq(GM_WINF)", "cmp(r5, r6)", "beq(GM_AINF)",
        "cmp(r4, 0)", "beq(GM_ZERO)", "cmp(r5, 0)", "beq(GM_ZERO)",
        *_unpack_mul("r4", "r6"), *_unpack_mul("r5", "r7"),
        "lsr(r7, r7, 1)", "add(r4, r4, r5)",
        umull(5, 3, 6, 7),
        "clz(r6, r3)", "sub(r4, r4, r6)", "sub(r6, r6, 1)", "lsl(r3, r6)",
        "cmp(r5, 0)", "it(ne)", orr_imm1(3, 3),
        "sub(r4, 126)",                                  # exponent field - 1, signed
        "cmp(r4, 254)", "bge(GM_INF)", "cmp(r4, 0)", "bge(GM_ROUND)",
        "neg(r6, r4)", "cmp(r6, 31)", "blt(GM_SHIFT)",   # subnormal: shift by 1 - field
        "mov(r3, 1)", "b(GM_TINY)",
        "label(GM_SHIFT)", *_sticky_shift("r5", "r3", "r6", "r7"), "mov(r3, r5)",
        "label(GM_TINY)", "mov(r4, 0)",
        "label(GM_ROUND)", *_round("r3", "r5"), shifted("add", 3, 3, 4, "lsl", 23),
        shifted("orr", 3, 3, 12), "bx(lr)",
        "label(GM_WINF)", "cmp(r5, 0)", "beq(GM_NAN)", "b(GM_INF)",    # inf * 0: NaN
        "label(GM_AINF)", "cmp(r4, 0)", "beq(GM_NAN)",
        "label(GM_INF)", "movwt(r3, 0x7F800000)", shifted("orr", 3, 3, 12), "bx(lr)",
        "label(GM_ZERO)", "mov(r3, r12)", "bx(lr)",
        "label(GM_NAN)", "movwt(r3, 0x7FC00000)", "bx(lr)",
    ]


def _unpack_add(t: str, m: str) -> list:
    """t = x << 1 (finite, nonzero) to the exponent (in t; 1 for a subnormal) and the
    significand at bits 30..7 (in m)."""
    return [f"lsl({m}, {t}, 8)", f"lsr({m}, {m}, 2)", f"lsr({t}, {t}, 24)", f"beq(UA{t})",
            shifted("orr", int(m[1:]), int(m[1:]), 11, "lsr", 1), f"b(UAD{t})",
            f"label(UA{t})", f"mov({t}, 1)", f"label(UAD{t})"]


def _general_add() -> list:
    """Subroutine GADD: r0 = r0 + r3 for any operands. Clobbers r1, r2, r4-r7."""
    return [
        "label(GADD)", "lsl(r4, r0, 1)", "lsl(r5, r3, 1)", "movwt(r6, 0xFF000000)",
        "cmp(r4, r6)", "bhi(GA_RET)", "cmp(r5, r6)", "bhi(GA_RETY)",          # NaN
        "cmp(r4, r6)", "bne(GA_XFIN)", "cmp(r5, r6)", "bne(GA_RET)",          # inf + y
        shifted("eor", 7, 0, 3, flags=True), "bpl(GA_RET)",
        "movwt(r0, 0x7FC00000)", "bx(lr)",                                    # inf - inf
        "label(GA_XFIN)", "cmp(r5, r6)", "beq(GA_RETY)",
        "cmp(r5, 0)", "bne(GA_YNZ)", "cmp(r4, 0)", "bne(GA_RET)",
        "and_(r0, r3)", "bx(lr)",                        # zeros: -0 only for -0 + -0
        "label(GA_YNZ)", "cmp(r4, 0)", "beq(GA_RETY)",
        "cmp(r4, r5)", "bcs(GA_ORDERED)",
        "mov(r7, r0)", "mov(r0, r3)", "mov(r3, r7)", "mov(r7, r4)", "mov(r4, r5)",
        "mov(r5, r7)",
        "label(GA_ORDERED)", *_unpack_add("r4", "r1"), *_unpack_add("r5", "r2"),
        "sub(r5, r4, r5)", "cmp(r5, 31)", "blt(GA_SHIFT)", "mov(r2, 1)", "b(GA_ALIGNED)",
        "label(GA_SHIFT)", *_sticky_shift("r6", "r2", "r5", "r7"), "mov(r2, r6)",
        "label(GA_ALIGNED)", shifted("eor", 7, 0, 3, flags=True), "bmi(GA_SUB)",
        "add(r1, r1, r2)", "bpl(GA_ROUND)",
        "lsr(r1, r1, 1)", "it(cs)", orr_imm1(1, 1), "add(r4, 1)", "cmp(r4, 255)",
        "bne(GA_ROUND)",
        shifted("and", 0, 0, 11), "movwt(r1, 0x7F800000)", "orr(r0, r1)", "bx(lr)",
        "label(GA_SUB)", "sub(r1, r1, r2)", "bne(GA_NZ)", "mov(r0, 0)", "bx(lr)",
        "label(GA_NZ)", "clz(r6, r1)", "sub(r6, r6, 1)",
        "sub(r7, r4, 1)", "cmp(r6, r7)", "ble(GA_N)", "mov(r6, r7)",   # down to exponent 1
        "label(GA_N)", "lsl(r1, r6)", "sub(r4, r4, r6)",
        "label(GA_ROUND)", *_round("r1", "r6"), "sub(r4, r4, 1)",
        shifted("add", 1, 1, 4, "lsl", 23), bfi(0, 1, 0, 31), "bx(lr)",
        "label(GA_RETY)", "mov(r0, r3)", "label(GA_RET)", "bx(lr)",
    ]


def _slow_paths() -> list:
    """The exits of the fast paths: a zero input, the general multiply and add."""
    return [
        "label(MUL_ZERO)", "lsl(r4, r1, 1)", "lsr(r4, r4, 24)", "cmp(r4, 255)",
        "beq(MUL_SLOW)",                                 # inf or NaN * 0
        "lsl(r4, r0, 1)", "bne_w(NEXT)",                 # acc + (+-0) = acc
        shifted("eor", 3, 1, 2), "and_(r0, r3)", "b(NEXT)",     # both zeros
        "label(MUL_SLOW)", "bl(GMUL)", "b(ADD)",
        "label(ADD_SLOW)", "bl(GADD)", "b(NEXT)",
        *_general_mul(), *_general_add(),
    ]


def _function(head: str, lines: list) -> str:
    return head + "\n" + "\n".join("    " + line for line in lines) + "\n"


def _dense() -> str:
    """dense(p, a, wb, out): p array('i') [n_in, n_out, act]; a the inputs; wb the weights
    (neuron-major) then the biases; out the outputs. ReLU (act 1) keeps z when z > 0 (not
    NaN) and gives +0.0 otherwise. Stack: [0] p, [4] a, [8] the next bias, [12] the next
    output, [16] the neurons left."""
    lines = [
        "push({r8, r9, r10, r11})", sub_sp(24), str_sp(0, 0), str_sp(1, 4),
        "ldr(r4, [r0, 0])", "ldr(r5, [r0, 4])", "mov(r6, r4)", "mul(r6, r5)",
        "lsl(r6, r6, 2)", "add(r6, r6, r2)", str_sp(6, 8), str_sp(3, 12), str_sp(5, 16),
        "mov(r8, r2)", "movwt(r7, 0x80000000)", "mov(r11, r7)",
        "label(NEURON)", ldr_sp(5, 16), "cmp(r5, 0)", "beq_w(DONE)",
        "sub(r5, 1)", str_sp(5, 16),
        ldr_sp(6, 8), "ldr(r0, [r6, 0])", "add(r6, 4)", str_sp(6, 8),   # acc = bias
        ldr_sp(6, 4), "mov(r9, r6)", ldr_sp(6, 0), "ldr(r6, [r6, 0])", "mov(r10, r6)",
        "label(LOOP)", ldr_post(1, 8), ldr_post(2, 9),
        *_mac(),
        "label(NEXT)", subs_imm1(10, 10), "bne_w(LOOP)",
        ldr_sp(6, 0), "ldr(r6, [r6, 8])", "cmp(r6, 1)", "bne(STORE)",
        "cmp(r0, 0)", "ble(RELU_ZERO)",                  # ReLU: 0 < z <= inf as integers
        "movwt(r6, 0x7F800000)", "cmp(r0, r6)", "ble(STORE)",
        "label(RELU_ZERO)", "mov(r0, 0)",
        "label(STORE)", ldr_sp(6, 12), "str(r0, [r6, 0])", "add(r6, 4)", str_sp(6, 12),
        "b(NEURON)",
        "label(DONE)", add_sp(24), "pop({r8, r9, r10, r11})", "mov(r0, 0)", "b(END)",
        *_slow_paths(), "label(END)",
    ]
    return _function("@micropython.asm_thumb\ndef dense(r0, r1, r2, r3):", lines)


def _key(r: str, p: str) -> list:
    """A non-NaN float32's bits in r to an integer of the same order (-0 and +0 both 0)."""
    return [f"cmp({r}, 0)", f"bge({p})", f"lsl({r}, {r}, 1)", f"lsr({r}, {r}, 1)",
            f"neg({r}, {r})", f"label({p})"]


def _best() -> str:
    """best(out, n): one output, 1 if it is > 0 else 0 (a logit); several, the index of the
    first maximum (NaN never wins; a NaN first output keeps index 0, as in bytecode)."""
    lines = [
        "ldr(r2, [r0, 0])", "movwt(r6, 0xFF000000)", "cmp(r1, 1)", "bne(SEVERAL)",
        "mov(r3, 0)", "cmp(r2, 0)", "ble(ONE)",          # <= +0, or negative
        "movwt(r7, 0x7F800000)", "cmp(r2, r7)", "bgt(ONE)",       # NaN
        "mov(r3, 1)", "label(ONE)", "mov(r0, r3)", "b(END)",
        "label(SEVERAL)", "mov(r3, 0)", "lsl(r4, r2, 1)", "cmp(r4, r6)", "bhi(DONE)",
        *_key("r2", "K0"), "mov(r4, 1)",
        "label(NEXT)", "cmp(r4, r1)", "bge(DONE)", "add(r0, 4)", "ldr(r5, [r0, 0])",
        "lsl(r7, r5, 1)", "cmp(r7, r6)", "bhi(SKIP)",
        *_key("r5", "K1"), "cmp(r5, r2)", "ble(SKIP)", "mov(r2, r5)", "mov(r3, r4)",
        "label(SKIP)", "add(r4, 1)", "b(NEXT)",
        "label(DONE)", "mov(r0, r3)", "label(END)",
    ]
    return _function("@micropython.asm_thumb\ndef best(r0, r1) -> int:", lines)


def soft_net_source() -> str:
    """Source of the ``emlnet_soft`` module: ``bind`` (emlnet_float's run/scores), ``dense``
    and ``best`` in integer Thumb-2 code."""
    return ("# float32 layers in integer Thumb-2 code (generated by "
            "emlearn_lab/runtime/thumb_soft_net.py).\n" + BIND_SOURCE + _dense() + "\n\n"
            + _best())


def soft_mac_source() -> str:
    """Source of a test module with ``mac(buf, n)``: for each of n triples (acc, w, a) of
    float32 bits in buf, acc = acc + w * a with the very instructions dense() runs."""
    lines = [
        "push({r8, r9, r10, r11})", "movwt(r7, 0x80000000)", "mov(r11, r7)",
        "mov(r9, r0)", "mov(r10, r1)",
        "label(LOOP)", "mov(r7, r9)", "ldr(r0, [r7, 0])", "ldr(r1, [r7, 4])",
        "ldr(r2, [r7, 8])",
        *_mac(),
        "label(NEXT)", "mov(r7, r9)", "str(r0, [r7, 0])", "add(r7, 12)", "mov(r9, r7)",
        subs_imm1(10, 10), "bne_w(LOOP)",
        "pop({r8, r9, r10, r11})", "mov(r0, 0)", "b(END)",
        *_slow_paths(), "label(END)",
    ]
    return "import micropython\n\n\n" + _function(
        "@micropython.asm_thumb\ndef mac(r0, r1):", lines)
