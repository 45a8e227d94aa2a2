"""Checks of argument values, all failing with one message shape (scikit-learn's)::

    The 'features' parameter of eml.convert must be 'float32' or 'int16'. Got 'x' instead.

followed by the remedy when one is known. Every check returns the value it accepted and raises
:class:`~emlearn_lab.exceptions.InputError` (also a ``ValueError``).
"""
import math
import numbers
import re

from .exceptions import InputError

__all__ = ["invalid", "one_of", "int_in", "number_in", "identifier"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_SHOWN = 80      # characters of a rejected value's repr (an array would fill the screen)


def _shown(value) -> str:
    text = repr(value)
    if len(text) <= _MAX_SHOWN:
        return text
    return " ".join(text.split())[:_MAX_SHOWN - 3] + "..."


def invalid(name: str, value, expected: str, *, owner: str | None = None,
            remedy: str | None = None, error: type = InputError) -> InputError:
    """The error for parameter ``name`` of ``owner`` given ``value`` where ``expected`` (a
    phrase following "must be") was needed; ``remedy`` is a sentence appended to it.

    Returns the exception (``raise invalid(...)``), an ``error``: InputError or a subclass.

    Examples
    --------
    >>> print(invalid("port", 3, "a str", owner="eml.connect", remedy="E.g. 'virtual'."))
    The 'port' parameter of eml.connect must be a str. Got 3 instead. E.g. 'virtual'.
    """
    of = f" of {owner}" if owner else ""
    text = f"The {name!r} parameter{of} must be {expected}. Got {_shown(value)} instead."
    return error(f"{text} {remedy}" if remedy else text)


def _alternatives(choices) -> str:
    shown = [repr(c) for c in choices]
    if len(shown) <= 2:
        return " or ".join(shown)
    return "one of " + ", ".join(shown)


def one_of(name: str, value, choices, *, owner: str | None = None, remedy: str | None = None,
           error: type = InputError):
    """``value`` if it is one of ``choices``, else ``error`` (InputError or a subclass).

    Examples
    --------
    >>> one_of("features", "int16", ("float32", "int16"), owner="eml.convert")
    'int16'
    """
    try:
        if value in choices:
            return value
    except TypeError:              # an unhashable value tested against a set
        pass
    raise invalid(name, value, _alternatives(choices), owner=owner, remedy=remedy, error=error)


def _interval(low, high, low_open: bool = False) -> str:
    return (f"{'(' if low_open else '['}{low}, "
            f"{'inf)' if high is None else f'{high}]'}")


def int_in(name: str, value, low: int, high: int | None = None, *, allow_none: bool = False,
           owner: str | None = None, remedy: str | None = None):
    """``value`` if it is an int (not a bool) in ``[low, high]`` (``high=None``: no upper
    bound), or None with ``allow_none``; else InputError."""
    if value is None and allow_none:
        return value
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and low <= value and (high is None or value <= high)):
        expected = f"an int in the range {_interval(low, high)}" + (" or None" * allow_none)
        raise invalid(name, value, expected, owner=owner, remedy=remedy)
    return value


def number_in(name: str, value, low: float, high: float | None = None, *,
              low_open: bool = False, owner: str | None = None, remedy: str | None = None):
    """``value`` if it is a finite real number (not a bool) in ``[low, high]`` (``(low,
    high]`` with ``low_open``; ``high=None``: no upper bound), else InputError."""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value) and (low < value if low_open else low <= value)
          and (high is None or value <= high))
    if not ok:
        raise invalid(name, value, f"a number in the range {_interval(low, high, low_open)}",
                      owner=owner, remedy=remedy)
    return value


def identifier(name: str, value, *, reserved=frozenset(), owner: str | None = None,
               remedy: str | None = None) -> str:
    """``value`` if it is a C identifier (ASCII; not starting with ``'__'``, which C reserves)
    and not in ``reserved``, else InputError."""
    if not (isinstance(value, str) and _IDENTIFIER.match(value)
            and not value.startswith("__") and value not in reserved):
        expected = ("a C identifier (ASCII letters, digits and '_', not starting with a digit "
                    "or '__')" + (" and not a reserved word" if reserved else ""))
        raise invalid(name, value, expected, owner=owner, remedy=remedy)
    return value
