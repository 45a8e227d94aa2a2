"""The int8 network kernel in Thumb machine code, for ARM cores (Cortex-M0/M0+/M3/M4/M7).

Viper spends about 40 instructions on one multiply-accumulate on Thumb (every local but two
lives on the stack); this kernel, for MicroPython's inline assembler, spends 7. It computes
exactly what ``device_src/emlnet_kernels.py``'s viper ``net8`` computes, step for step in 32-bit
integers, from the same validated network file (``emlnet_int8.check`` runs first): the input
quantisation on the float32 bits, the biased uint8 products with their per-neuron constant,
the rounded right shift, the activation table or clamp, and the first-maximum argmax.

Only Thumb-1 instructions (ARMv6-M), so one source serves the M0 and the M3/M4/M7. Calling
convention as the viper kernel: ``net8(work, blob, h, x)``; its locals live in an 80-byte stack
frame (``_F``).
"""
from .thumb_asm import add_sp, ldr, ldr_sp, ldrb, ldrsb, str_, str_sp, strb, sub_sp

__all__ = ["thumb_net_source"]

# Stack frame slots (byte offsets from sp).
_F = dict(work=0, blob=4, h=8, layer=12, cur=16, nxt=20, o=24, sa=28, top=32, best=36,
          w=40, c=44, sh=48, lut=52, lo=56, last=60, n_in=64, n_out=68, act=72)
_FRAME = 80


def _get(reg: int, slot: str) -> str:
    return ldr_sp(reg, _F[slot])


def _put(reg: int, slot: str) -> str:
    return str_sp(reg, _F[slot])


def _clamp(lo_reg: int) -> list:
    """r0 = min(max(r0, r{lo_reg}), 127) + 128: the biased uint8 activation (r4 scratch)."""
    return ["mov(r4, 127)", "cmp(r0, r4)", "ble(CLAMP_HI_%d)" % lo_reg, "mov(r0, r4)",
            "label(CLAMP_HI_%d)" % lo_reg, "cmp(r0, r%d)" % lo_reg,
            "bge(CLAMP_LO_%d)" % lo_reg, "mov(r0, r%d)" % lo_reg,
            "label(CLAMP_LO_%d)" % lo_reg, "add(r0, 128)"]


def _input() -> list:
    """cur[j] = clip(floor(x * 2**(s+1)) + 1 >> 1, -128, 127) + 128 from the float32 bits.
    Registers: r4 j counting down, r5 cur, r6 input shifts, r12 x, r7 the bits, r1 e then p,
    r0 m then v, r2 s then frac, r3 scratch."""
    return [
        "ldr(r4, [r2, 4])", "ldr(r5, [r2, 12])", "add(r5, r5, r0)",      # n, cur
        "ldr(r6, [r2, 8])", "add(r6, r6, r1)", "mov(r12, r3)",           # shifts, x
        "label(IN_NEXT)", "sub(r4, 1)", "bmi(IN_DONE)",
        "lsl(r3, r4, 2)", "mov(r7, r12)", ldr(7, 7, 3),
        "lsl(r1, r7, 1)", "lsr(r1, r1, 24)", "lsl(r0, r7, 9)", "lsr(r0, r0, 9)",
        "cmp(r1, 0)", "beq(IN_SUBNORMAL)", "cmp(r1, 255)", "beq(IN_SATURATE)",
        "mov(r2, 1)", "lsl(r2, r2, 23)", "orr(r0, r2)", "b(IN_EXPONENT)",
        "label(IN_SUBNORMAL)", "mov(r1, 1)",
        "label(IN_EXPONENT)", ldrsb(2, 6, 4), "add(r1, r1, r2)", "sub(r1, 149)",
        "cmp(r1, 7)", "bge(IN_SATURATE)", "cmp(r1, 0)", "blt(IN_RIGHT)",
        "lsl(r0, r1)", "mov(r2, 0)", "b(IN_SIGN)",
        "label(IN_RIGHT)", "neg(r1, r1)", "cmp(r1, 25)", "bge(IN_TINY)",
        "mov(r2, 1)", "lsl(r2, r1)", "sub(r2, 1)", "and_(r2, r0)", "lsr(r0, r1)",
        "b(IN_SIGN)",
        "label(IN_TINY)", "mov(r2, r0)", "mov(r0, 0)", "b(IN_SIGN)",
        "label(IN_SATURATE)", "mov(r0, 2)", "lsl(r0, r0, 8)", "mov(r2, 0)",   # 512
        "label(IN_SIGN)", "cmp(r7, 0)", "bge(IN_ROUND)",
        "neg(r0, r0)", "cmp(r2, 0)", "beq(IN_ROUND)", "sub(r0, 1)",
        "label(IN_ROUND)", "add(r0, 1)", "asr(r0, r0, 1)",
        "add(r0, 128)", "bmi(IN_ZERO)", "cmp(r0, 255)", "ble(IN_STORE)", "mov(r0, 255)",
        "b(IN_STORE)",
        "label(IN_ZERO)", "mov(r0, 0)",
        "label(IN_STORE)", strb(0, 5, 4), "b(IN_NEXT)",
        "label(IN_DONE)"]


def _layer_setup() -> list:
    """Frame slots of layer `layer` (table entries 8 + 8 * layer .. of h)."""
    return [
        "lsl(r4, r3, 5)", "add(r4, r4, r2)",                             # &h[8 * layer]
        "ldr(r5, [r4, 32])", _put(5, "n_in"), "ldr(r5, [r4, 36])", _put(5, "n_out"),
        _get(1, "blob"),
        "ldr(r5, [r4, 40])", "add(r5, r5, r1)", _put(5, "w"),
        "ldr(r5, [r4, 44])", "add(r5, r5, r1)", _put(5, "c"),
        "ldr(r5, [r4, 48])", "add(r5, r5, r1)", _put(5, "sh"),
        "ldr(r5, [r4, 52])", "cmp(r5, 0)", "beq(NO_TABLE)", "add(r5, r5, r1)",
        "label(NO_TABLE)", _put(5, "lut"),
        "ldr(r5, [r4, 56])", _put(5, "act"),
        "mov(r6, 128)", "neg(r6, r6)", "cmp(r5, 1)", "bne(LO_SET)", "mov(r6, 0)",
        "label(LO_SET)", _put(6, "lo"),                                  # ReLU: 0, else -128
        "sub(r0, 1)", "mov(r5, 0)", "cmp(r3, r0)", "bne(NOT_LAST)", "mov(r5, 1)",
        "label(NOT_LAST)", _put(5, "last"),
        # sa = 128 * sum(cur): the activations' share of the biased products
        _get(5, "cur"), _get(6, "n_in"), "mov(r0, 0)",
        "label(SUM_A)", "sub(r6, 1)", "bmi(SUM_A_DONE)", ldrb(7, 5, 6), "add(r0, r0, r7)",
        "b(SUM_A)",
        "label(SUM_A_DONE)", "lsl(r0, r0, 7)", _put(0, "sa"),
        "mov(r0, 0)", _put(0, "o")]


def _neuron() -> list:
    """acc = sum(w * a) + c[o] - sa over the biased bytes; then the last layer's score and
    argmax, or a hidden layer's shift, table or clamp into nxt[o]. r3 = o."""
    return [
        _get(1, "w"), _get(2, "cur"), _get(6, "n_in"), "mov(r0, 0)",
        "add(r4, r1, r6)", _put(4, "w"),                                 # the next row
        "label(MAC)", "sub(r6, 1)", "bmi(MAC_DONE)", ldrb(4, 1, 6), ldrb(5, 2, 6),
        "mul(r4, r5)", "add(r0, r0, r4)", "b(MAC)",
        "label(MAC_DONE)", _get(1, "c"), "lsl(r4, r3, 2)", ldr(4, 1, 4), "add(r0, r0, r4)",
        _get(4, "sa"), "sub(r0, r0, r4)",
        _get(4, "last"), "cmp(r4, 0)", "beq(HIDDEN)",
        _get(4, "act"), "cmp(r4, 1)", "bne(NO_RELU)", "cmp(r0, 0)", "bge(NO_RELU)",
        "mov(r0, 0)",
        "label(NO_RELU)", _get(1, "work"), "lsl(r4, r3, 2)", str_(0, 1, 4),   # scores[o]
        "cmp(r3, 0)", "beq(NEW_TOP)", _get(4, "top"), "cmp(r0, r4)", "ble(NEXT_NEURON)",
        "label(NEW_TOP)", _put(0, "top"), _put(3, "best"), "b(NEXT_NEURON)",
        "label(HIDDEN)", _get(1, "sh"), ldrb(4, 1, 3), "cmp(r4, 0)", "beq(NO_SHIFT)",
        "sub(r5, r4, 1)", "mov(r6, 1)", "lsl(r6, r5)", "add(r0, r0, r6)", "asr(r0, r4)",
        "label(NO_SHIFT)", _get(1, "lut"), "cmp(r1, 0)", "beq(NO_LUT)",
        "mov(r6, 128)", "neg(r6, r6)", *_clamp(6), ldrb(0, 1, 0), "b(STORE_NEXT)",
        "label(NO_LUT)", _get(7, "lo"), *_clamp(7),
        "label(STORE_NEXT)", _get(1, "nxt"), strb(0, 1, 3),
        "label(NEXT_NEURON)", "add(r3, 1)", _put(3, "o"), "b(NEURON)"]


def thumb_net_source() -> str:
    """Source of the ``net8`` kernel module for ARM cores (replaces emlnet_kernels.py)."""
    c = [sub_sp(_FRAME), _put(0, "work"), _put(1, "blob"), _put(2, "h")]
    c += _input()
    c += ["mov(r0, 0)", _put(0, "layer"), _put(0, "top"), _put(0, "best"),
          _get(0, "work"), _get(2, "h"),
          "ldr(r1, [r2, 12])", "add(r1, r1, r0)", _put(1, "cur"),
          "ldr(r1, [r2, 16])", "add(r1, r1, r0)", _put(1, "nxt"),
          "label(LAYER)", _get(2, "h"), _get(3, "layer"), "ldr(r0, [r2, 0])",
          "cmp(r3, r0)", "blt(LAYER_BODY)", "b(LAYERS_DONE)", "label(LAYER_BODY)"]
    c += _layer_setup()
    c += ["label(NEURON)", _get(3, "o"), _get(0, "n_out"), "cmp(r3, r0)",
          "blt(NEURON_BODY)", "b(NEURONS_DONE)", "label(NEURON_BODY)"]
    c += _neuron()
    c += ["label(NEURONS_DONE)", _get(0, "cur"), _get(1, "nxt"), _put(1, "cur"),
          _put(0, "nxt"), _get(3, "layer"), "add(r3, 1)", _put(3, "layer"), "b(LAYER)",
          "label(LAYERS_DONE)", _get(2, "h"), "ldr(r0, [r2, 24])", "cmp(r0, 0)",
          "beq(RETURN_0)", "ldr(r0, [r2, 28])", "cmp(r0, 1)", "bne(RETURN_BEST)",
          _get(0, "top"), "cmp(r0, 0)", "ble(RETURN_0)", "mov(r0, 1)", "b(END)",
          "label(RETURN_BEST)", _get(0, "best"), "b(END)",
          "label(RETURN_0)", "mov(r0, 0)",
          "label(END)", add_sp(_FRAME)]
    body = "\n".join("    " + line for line in c)
    return ("# The int8 network kernel in Thumb machine code (generated by "
            "emlearn_lab/runtime/thumb_net.py).\nimport micropython\n\n\n"
            f"@micropython.asm_thumb\ndef net8(r0, r1, r2, r3) -> int:\n{body}\n")
