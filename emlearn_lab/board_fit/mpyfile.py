"""Read the sizes MicroPython allocates when it imports an .mpy file (format version 6).

Only what the RAM estimate needs: per raw-code element, its kind and code length. The
layout follows MicroPython's documented .mpy format (docs/reference/mpyfiles.rst) and the
loader in py/persistentcode.c: header, qstr table, constant table, then raw-code elements
nested depth first. A file that does not parse to its last byte is rejected, so a format
change shows up as an error rather than a wrong figure.
"""
from dataclasses import dataclass, field

__all__ = ["MpyInfo", "parse_mpy"]

_KINDS = ("bytecode", "native", "viper", "asm")
# Constant object types (MP_PERSISTENT_OBJ_*): these carry no payload.
_NO_PAYLOAD = {0, 1, 2, 3, 4}          # fun table, None, False, True, Ellipsis
_STR, _BYTES, _TUPLE = 5, 6, 10
# Viper scope flags that add data after the code (natmod-style viper; mpy-cross writes 0).
_VIPER_RELOC, _VIPER_RODATA, _VIPER_BSS = 0x10, 0x20, 0x40


@dataclass
class MpyInfo:
    version: int
    sub_version: int
    arch_id: int
    n_qstr: int = 0
    qstr_bytes: int = 0        # characters of the qstrs the file brings (interned at import)
    n_obj: int = 0
    str_bytes: int = 0         # payload of str/bytes constants
    code: list = field(default_factory=list)   # (kind, code length) per raw-code element

    @property
    def bytecode_bytes(self) -> int:
        return sum(n for kind, n in self.code if kind == "bytecode")

    @property
    def native_code_bytes(self) -> int:
        """Machine code MicroPython allocates as executable memory at import."""
        return sum(n for kind, n in self.code if kind != "bytecode")


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("truncated .mpy file")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def skip(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise ValueError("truncated .mpy file")
        self.pos += n

    def uint(self) -> int:
        n = 0
        while True:
            b = self.byte()
            n = (n << 7) | (b & 0x7F)
            if not b & 0x80:
                return n


def _obj(r: _Reader, info: MpyInfo) -> None:
    kind = r.byte()
    if kind in _NO_PAYLOAD:
        return
    n = r.uint()
    if kind == _TUPLE:
        for _ in range(n):
            _obj(r, info)
    elif kind in (_STR, _BYTES):
        info.str_bytes += n
        r.skip(n + 1)                   # + null terminator
    else:
        r.skip(n)                       # int/float/complex as text


def _raw_code(r: _Reader, info: MpyInfo) -> None:
    kind_len = r.uint()
    kind, has_children, length = _KINDS[kind_len & 3], kind_len & 4, kind_len >> 3
    info.code.append((kind, length))
    r.skip(length)
    flags = 0
    if kind == "native":
        r.uint()                        # prelude offset
    elif kind in ("viper", "asm"):
        flags = r.uint()
        if kind == "asm":
            r.uint()
            r.uint()
    if kind == "viper":
        rodata = r.uint() if flags & _VIPER_RODATA else 0
        if flags & _VIPER_BSS:
            r.uint()
        r.skip(rodata)
    if has_children:
        for _ in range(r.uint()):
            _raw_code(r, info)
    if kind == "viper" and flags & _VIPER_RELOC:
        while (op := r.byte()) != 0xFF:
            if op & 1:
                r.uint()
            if (op >> 1) <= 5 and (op >> 1) & 1:
                r.uint()


def parse_mpy(data: bytes) -> MpyInfo:
    """Sizes inside an .mpy file. Raises ValueError if it is not a whole v6 .mpy file."""
    r = _Reader(data)
    if len(data) < 4 or data[0] != ord("M"):
        raise ValueError("not an .mpy file (no 'M' header)")
    if data[1] != 6:
        raise ValueError(f".mpy version {data[1]}: only version 6 (MicroPython >= 1.19) is read")
    info = MpyInfo(version=6, sub_version=data[2] & 3, arch_id=data[2] >> 2)
    r.pos = 4
    info.n_qstr, info.n_obj = r.uint(), r.uint()
    for _ in range(info.n_qstr):
        n = r.uint()
        if not n & 1:                   # odd: a static qstr index, no characters
            info.qstr_bytes += n >> 1
            r.skip((n >> 1) + 1)
    for _ in range(info.n_obj):
        _obj(r, info)
    _raw_code(r, info)
    if r.pos != len(data):
        raise ValueError(f".mpy parse ended at byte {r.pos} of {len(data)}: unknown layout")
    return info
