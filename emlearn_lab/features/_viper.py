"""CPython stand-ins for MicroPython's viper built-ins, so that the device's feature sources
(emlearn_lab/device_src/emlfx_*.py) import and run unchanged on the host.

On the device, ``@micropython.viper`` compiles a function to machine code with machine-word
integers and raw pointer access (``ptr16(buf)[i]`` reads the i-th little-endian uint16 of
buf). Here the decorator is the identity and ``ptr8/ptr16/ptr32`` are memoryview casts, so
the same statements compute the same integers, provided the source keeps to the rules in
emlfx_core.py (every intermediate fits a signed 32-bit word, stores are masked to the
pointer's width). ``checked()`` turns those rules into run-time checks for the tests.
"""
import contextlib
import functools
import inspect
import types

__all__ = ["micropython", "const", "ptr8", "ptr16", "ptr32", "uint", "checked", "Word"]

_FORMATS = {"B": 8, "H": 16, "i": 32}
_state = {"checked": False}


def _viper(function):
    """Viper casts arguments annotated ptr8/ptr16/ptr32 to pointers on entry: do the same.
    In checked() mode the call runs a twin of the function whose ``int`` (the viper cast to a
    machine word) makes Words, as do its int arguments, so overflows raise."""
    kinds = [p.annotation for p in inspect.signature(function).parameters.values()]
    twin = []

    @functools.wraps(function)
    def call(*args):
        args = [k(a) if k in _POINTERS else a for k, a in zip(kinds, args)]
        if not _state["checked"]:
            return function(*args)
        if not twin:      # built on first use, when the module's globals are all defined
            scope = dict(function.__globals__, int=_word)
            twin.append(types.FunctionType(function.__code__, scope, function.__name__,
                                           function.__defaults__, function.__closure__))
        args = [_word(a) if k is int else a for k, a in zip(kinds, args)]
        return twin[0](*args)
    return call


def _word(value) -> "Word":
    """The viper ``int(x)`` cast in checked mode: the value must fit a machine word."""
    value = int(value)
    if not -(1 << 31) <= value < (1 << 31):
        raise OverflowError(f"viper word overflow: {value} does not fit int32")
    return Word(value)


class _MicroPython:
    """``import micropython`` for CPython: viper/native compile nothing here."""

    viper = staticmethod(_viper)
    native = staticmethod(lambda function: function)

    @staticmethod
    def const(value):
        return value


micropython = _MicroPython()
const = micropython.const


class Word(int):
    """An int that raises OverflowError when an arithmetic result leaves the signed 32-bit
    range, as a 32-bit microcontroller's viper code would silently wrap there."""

    def _wrap(self, value):
        if isinstance(value, bool) or not isinstance(value, int):
            return value
        if not -(1 << 31) <= value < (1 << 31):
            raise OverflowError(f"viper word overflow: {value} does not fit int32")
        return Word(value)


def _binary(name):
    base = getattr(int, name)

    def op(self, other):
        return self._wrap(base(int(self), other))
    op.__name__ = name
    return op


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
              "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__lshift__",
              "__rshift__", "__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__"):
    setattr(Word, _name, _binary(_name))
Word.__neg__ = lambda self: self._wrap(-int(self))


class _CheckedView:
    """A pointer in checked mode: loads give Words, stores must fit the pointer's width, and
    ptr32 loads must not be negative (a 64-bit port zero-extends them, a 32-bit one does
    not: the same code would read different values)."""

    def __init__(self, view, bits):
        self._view, self._bits = view, bits

    def __getitem__(self, index):
        value = self._view[index]
        if value < 0:
            raise OverflowError(f"viper ptr32 load of a negative value ({value}) at {index}: "
                                "64-bit ports zero-extend it; keep loaded words >= 0")
        return Word(value)

    def __setitem__(self, index, value):
        lo = -(1 << 31) if self._bits == 32 else 0
        hi = (1 << 31) if self._bits == 32 else (1 << self._bits)
        if not lo <= value < hi:
            raise OverflowError(f"viper store of {value} through a {self._bits}-bit pointer: "
                                f"mask it to the pointer's width first")
        self._view[index] = int(value)


class _Address:
    """``uint(buffer)`` in viper is the buffer's address; adding a byte offset and casting
    back with ``ptr16(...)`` addresses the buffer from there. Here: (buffer, offset)."""

    def __init__(self, buf, offset=0):
        self.buf, self.offset = buf, offset

    def __add__(self, offset):
        return _Address(self.buf, self.offset + int(offset))

    __radd__ = __add__


def uint(value):
    """viper's uint cast: an address for a buffer, the value for an int."""
    if isinstance(value, int):
        return int(value)
    if isinstance(value, _CheckedView):
        value = value._view
    return _Address(value.buf, value.offset) if isinstance(value, _Address) else _Address(value)


def _pointer(buf, fmt):
    offset = 0
    if isinstance(buf, _Address):
        buf, offset = buf.buf, buf.offset
    view = memoryview(buf)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    view = view[offset:]
    view = view[:len(view) - len(view) % (_FORMATS[fmt] // 8)].cast(fmt)
    return _CheckedView(view, _FORMATS[fmt]) if _state["checked"] else view


def ptr8(buf):
    return _pointer(buf, "B")


def ptr16(buf):
    return _pointer(buf, "H")


def ptr32(buf):
    # Signed: a store keeps the low 32 bits, which for int32 values is this; loads of
    # negative values are outside the rules (see _CheckedView).
    return _pointer(buf, "i")


_POINTERS = (ptr8, ptr16, ptr32)


@contextlib.contextmanager
def checked():
    """Within this block pointer loads return Words, so any int32 overflow in the kernels
    (which a 32-bit device would wrap silently) raises OverflowError instead."""
    before = _state["checked"]
    _state["checked"] = True
    try:
        yield
    finally:
        _state["checked"] = before
