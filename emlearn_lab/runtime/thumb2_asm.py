"""Thumb-2 (ARMv7-M) wide encodings MicroPython's inline assembler has no mnemonic for.

``@micropython.asm_thumb`` knows the Thumb-1 forms on r0-r7 plus a few ARMv7-M extras (movw,
movt, clz, udiv, it, wide branches); the 32-bit data-processing forms that take any register,
a shifted second operand or a bitfield (ubfx, bfi, umull, post-indexed loads) it lacks. Each
function here returns one ``data(2, hw1, hw2)`` line: the instruction's two halfwords, first
halfword first, as the core fetches them. Registers are numbers 0-12 (never sp or pc).
tests/test_thumb2_asm.py checks every encoding against GNU as where it is installed.
"""

__all__ = ["ubfx", "bfi", "umull", "smull", "smlal", "mla", "mls", "ldr_post", "ldr_w",
           "str_w", "ldr_x4", "str_x4", "ldrsh_w", "ldrsh_r", "shifted", "shift_reg",
           "orr_imm1", "subs_imm1", "SHIFTS"]

# The shift applied to a data-processing instruction's second register (its "type" field).
SHIFTS = {"lsl": 0, "lsr": 1, "asr": 2}
# Opcode field of the shifted-register data-processing instructions (ARMv7-M ARM A5.3.11).
_OPS = {"and": 0x0, "bic": 0x1, "orr": 0x2, "eor": 0x4, "add": 0x8, "sub": 0xD}


def _reg(r: int) -> int:
    if not 0 <= r <= 12:
        raise ValueError(f"register r{r}: r0-r12 expected (sp, lr and pc are not taken here)")
    return r


def _data(hw1: int, hw2: int) -> str:
    return f"data(2, {hw1:#06x}, {hw2:#06x})"


def ubfx(rd: int, rn: int, lsb: int, width: int) -> str:
    """rd = (rn >> lsb) & (2**width - 1)."""
    if not (0 <= lsb <= 31 and 1 <= width <= 32 - lsb):
        raise ValueError(f"ubfx field at bit {lsb}, {width} wide: it must lie in bits 0-31")
    return _data(0xF3C0 | _reg(rn), ((lsb >> 2) << 12) | (_reg(rd) << 8) | ((lsb & 3) << 6)
                 | (width - 1))


def bfi(rd: int, rn: int, lsb: int, width: int) -> str:
    """rd's bits lsb..lsb+width-1 = rn's low `width` bits; rd's other bits kept."""
    if not (0 <= lsb <= 31 and 1 <= width <= 32 - lsb):
        raise ValueError(f"bfi field at bit {lsb}, {width} wide: it must lie in bits 0-31")
    return _data(0xF360 | _reg(rn), ((lsb >> 2) << 12) | (_reg(rd) << 8) | ((lsb & 3) << 6)
                 | (lsb + width - 1))


def umull(rdlo: int, rdhi: int, rn: int, rm: int) -> str:
    """rdhi:rdlo = rn * rm, unsigned 64-bit."""
    return _data(0xFBA0 | _reg(rn), (_reg(rdlo) << 12) | (_reg(rdhi) << 8) | _reg(rm))


def smull(rdlo: int, rdhi: int, rn: int, rm: int) -> str:
    """rdhi:rdlo = rn * rm, signed 64-bit."""
    return _data(0xFB80 | _reg(rn), (_reg(rdlo) << 12) | (_reg(rdhi) << 8) | _reg(rm))


def smlal(rdlo: int, rdhi: int, rn: int, rm: int) -> str:
    """rdhi:rdlo += rn * rm, signed 64-bit."""
    return _data(0xFBC0 | _reg(rn), (_reg(rdlo) << 12) | (_reg(rdhi) << 8) | _reg(rm))


def mla(rd: int, rn: int, rm: int, ra: int) -> str:
    """rd = ra + rn * rm (low 32 bits)."""
    return _data(0xFB00 | _reg(rn), (_reg(ra) << 12) | (_reg(rd) << 8) | _reg(rm))


def mls(rd: int, rn: int, rm: int, ra: int) -> str:
    """rd = ra - rn * rm (low 32 bits)."""
    return _data(0xFB00 | _reg(rn), (_reg(ra) << 12) | (_reg(rd) << 8) | 0x10 | _reg(rm))


def _imm12(imm: int) -> int:
    if not 0 <= imm < 4096:
        raise ValueError(f"offset {imm}: 0-4095 expected")
    return imm


def ldr_w(rt: int, rn: int, imm: int) -> str:
    """rt = [rn, #imm] (any registers, 0 <= imm < 4096)."""
    return _data(0xF8D0 | _reg(rn), (_reg(rt) << 12) | _imm12(imm))


def str_w(rt: int, rn: int, imm: int) -> str:
    """[rn, #imm] = rt (any registers, 0 <= imm < 4096)."""
    return _data(0xF8C0 | _reg(rn), (_reg(rt) << 12) | _imm12(imm))


def ldr_x4(rt: int, rn: int, rm: int) -> str:
    """rt = [rn, rm << 2]."""
    return _data(0xF850 | _reg(rn), (_reg(rt) << 12) | (2 << 4) | _reg(rm))


def str_x4(rt: int, rn: int, rm: int) -> str:
    """[rn, rm << 2] = rt."""
    return _data(0xF840 | _reg(rn), (_reg(rt) << 12) | (2 << 4) | _reg(rm))


def ldrsh_w(rt: int, rn: int, imm: int = 0) -> str:
    """rt = the sign-extended halfword [rn, #imm]."""
    return _data(0xF9B0 | _reg(rn), (_reg(rt) << 12) | _imm12(imm))


def ldrsh_r(rt: int, rn: int, rm: int) -> str:
    """rt = the sign-extended halfword [rn, rm] (any registers)."""
    return _data(0xF930 | _reg(rn), (_reg(rt) << 12) | _reg(rm))


def ldr_post(rt: int, rn: int, step: int = 4) -> str:
    """rt = [rn]; rn += step (0 <= step < 256)."""
    if not 0 <= step < 256:
        raise ValueError(f"post-index step {step}: 0-255 expected")
    return _data(0xF850 | _reg(rn), (_reg(rt) << 12) | 0x0B00 | step)


def shifted(op: str, rd: int, rn: int, rm: int, shift: str = "lsl", amount: int = 0,
            flags: bool = False) -> str:
    """rd = rn OP (rm SHIFT amount), OP one of and, bic, orr, eor, add, sub; `flags`: the
    S form (sets N, Z, C, V as the Thumb-1 forms do)."""
    if op not in _OPS or shift not in SHIFTS:
        raise ValueError(f"{op} {shift}: op in {sorted(_OPS)}, shift in {sorted(SHIFTS)}")
    if not (0 <= amount <= 31 and (amount or shift == "lsl")):
        raise ValueError(f"shift amount {amount}: 0-31 (0 only for lsl)")
    return _data(0xEA00 | (_OPS[op] << 5) | (int(flags) << 4) | _reg(rn),
                 ((amount >> 2) << 12) | (_reg(rd) << 8) | ((amount & 3) << 6)
                 | (SHIFTS[shift] << 4) | _reg(rm))


def shift_reg(shift: str, rd: int, rn: int, rm: int) -> str:
    """rd = rn SHIFT rm (lsl/lsr/asr by the register's low byte: 32 or more gives 0, or
    all sign bits for asr); no flags."""
    if shift not in SHIFTS:
        raise ValueError(f"shift {shift!r}: one of {sorted(SHIFTS)}")
    return _data(0xFA00 | (SHIFTS[shift] << 5) | _reg(rn), 0xF000 | (_reg(rd) << 8) | _reg(rm))


def orr_imm1(rd: int, rn: int) -> str:
    """rd = rn | 1 (no flags: usable inside an IT block to set a sticky bit)."""
    return _data(0xF040 | _reg(rn), (_reg(rd) << 8) | 1)


def subs_imm1(rd: int, rn: int) -> str:
    """rd = rn - 1, setting the flags (a loop counter in a high register)."""
    return _data(0xF1B0 | _reg(rn), (_reg(rd) << 8) | 1)
