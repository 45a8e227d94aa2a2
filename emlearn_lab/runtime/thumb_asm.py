"""Thumb-1 encodings MicroPython's inline assembler has no mnemonic for, as ``data(2, ...)``.

``@micropython.asm_thumb`` takes loads and stores with an immediate offset from r0-r7 only;
the register-offset forms and the stack-relative ones are plain Thumb-1 instructions (ARMv6-M
and later), written out here as raw halfwords. Used by thumb_walker.py and thumb_net.py.
"""

__all__ = ["ldr", "ldrh", "ldrb", "ldrsb", "ldrsh", "str_", "strh", "strb", "uxtb", "uxth",
           "stmia", "ldmia", "ldr_sp", "str_sp", "sub_sp",
           "add_sp"]


def _rr(op: int, rt: int, rn: int, rm: int) -> str:
    """A register-offset load/store (Thumb formats 7 and 8): rt, [rn, rm]."""
    return f"data(2, {op | (rm << 6) | (rn << 3) | rt:#06x})"


def ldr(rt: int, rn: int, rm: int) -> str:
    return _rr(0x5800, rt, rn, rm)


def ldrh(rt: int, rn: int, rm: int) -> str:
    return _rr(0x5A00, rt, rn, rm)


def ldrb(rt: int, rn: int, rm: int) -> str:
    return _rr(0x5C00, rt, rn, rm)


def ldrsb(rt: int, rn: int, rm: int) -> str:
    return _rr(0x5600, rt, rn, rm)


def ldrsh(rt: int, rn: int, rm: int) -> str:
    return _rr(0x5E00, rt, rn, rm)


def strh(rt: int, rn: int, rm: int) -> str:
    return _rr(0x5200, rt, rn, rm)


def str_(rt: int, rn: int, rm: int) -> str:
    return _rr(0x5000, rt, rn, rm)


def strb(rt: int, rn: int, rm: int) -> str:
    return _rr(0x5400, rt, rn, rm)


def _sp(op: int, rt: int, offset: int) -> str:
    if offset % 4 or not 0 <= offset < 1024:
        raise ValueError(f"stack offset {offset}: a multiple of 4 below 1024")
    return f"data(2, {op | (rt << 8) | (offset >> 2):#06x})"


def ldr_sp(rt: int, offset: int) -> str:
    """rt = [sp, #offset]."""
    return _sp(0x9800, rt, offset)


def str_sp(rt: int, offset: int) -> str:
    """[sp, #offset] = rt."""
    return _sp(0x9000, rt, offset)


def sub_sp(nbytes: int) -> str:
    return f"data(2, {0xB080 | (nbytes >> 2):#06x})"


def add_sp(nbytes: int) -> str:
    return f"data(2, {0xB000 | (nbytes >> 2):#06x})"


def uxtb(rd: int, rm: int) -> str:
    """rd = rm & 0xff (ARMv6-M and later)."""
    return f"data(2, {0xB2C0 | (rm << 3) | rd:#06x})"


def uxth(rd: int, rm: int) -> str:
    """rd = rm & 0xffff (ARMv6-M and later)."""
    return f"data(2, {0xB280 | (rm << 3) | rd:#06x})"


def stmia(rn: int, regs) -> str:
    """[rn] = the low registers regs in order; rn advanced past them."""
    return f"data(2, {0xC000 | (rn << 8) | sum(1 << r for r in regs):#06x})"


def ldmia(rn: int, regs) -> str:
    """The low registers regs = [rn] in order; rn advanced past them."""
    return f"data(2, {0xC800 | (rn << 8) | sum(1 << r for r in regs):#06x})"
