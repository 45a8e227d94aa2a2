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

__all__ = ["micropython", "const", "ptr8", "ptr16", "ptr32", "checked", "Word"]

_FORMATS = {"B": 8, "H": 16, "I": 32}
_state = {"checked": False}


def _viper(function):
    """Viper casts arguments annotated ptr8/ptr16/ptr32 to pointers on entry: do the same."""
    parameters = inspect.signature(function).parameters.values()
    casts = [(i, p.annotation) for i, p in enumerate(parameters)
             if p.annotation in (ptr8, ptr16, ptr32)]
    if not casts:
        return function

    @functools.wraps(function)
    def call(*args):
        args = list(args)
        for i, kind in casts:
            args[i] = kind(args[i])
        return function(*args)
    return call


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
    """A pointer in checked mode: loads give Words, stores must fit the pointer's width."""

    def __init__(self, view, bits):
        self._view, self._bits = view, bits

    def __getitem__(self, index):
        return Word(self._view[index])

    def __setitem__(self, index, value):
        if not 0 <= value < (1 << self._bits):
            raise OverflowError(f"viper store of {value} through a {self._bits}-bit pointer: "
                                f"mask it to the pointer's width first")
        self._view[index] = int(value)


def _pointer(buf, fmt):
    view = memoryview(buf)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    view = view.cast(fmt)
    return _CheckedView(view, _FORMATS[fmt]) if _state["checked"] else view


def ptr8(buf):
    return _pointer(buf, "B")


def ptr16(buf):
    return _pointer(buf, "H")


def ptr32(buf):
    return _pointer(buf, "I")


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
