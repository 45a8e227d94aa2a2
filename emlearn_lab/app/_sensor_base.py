"""What the sensors of sensors.py share: the base class and the parameter checks."""
from __future__ import annotations

import numbers

from ..validate import invalid


class SensorBase:
    """What every sensor has; subclasses set these in ``__init__`` or as class attributes."""
    samplerate_hz: float | None
    channels: tuple
    typecode: str
    units: str | tuple = ""
    kind: str = "signal"
    full_scale: float | None = None
    modules: tuple = ("emlab_drivers",)
    _params: tuple = ()     # __init__ parameters, shown by repr

    def device_expr(self) -> str:
        """The Python expression that constructs this sensor on the device."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._params)
        return f"{type(self).__name__}({args})"


def driver_call(name: str, *args) -> str:
    """``emlab_drivers.name(args...)`` with each argument written by repr()."""
    return f"emlab_drivers.{name}({', '.join(repr(a) for a in args)})"


def hz_list(rates) -> str:
    return " or ".join(f"{r:g} Hz" for r in rates)


def check_pin(name: str, value, owner: str, optional: bool = False):
    """A pin number (int >= 0) or name (non-empty str); None too if ``optional``."""
    if value is None and optional:
        return None
    ok = (isinstance(value, str) and value) or (
        isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0)
    if not ok:
        raise invalid(name, value, "a pin number (int >= 0) or pin name (str)"
                      + " or None" * optional, owner=owner, remedy="E.g. 4 or 'GP4'.")
    return value if isinstance(value, str) else int(value)


def check_names(name: str, value, owner: str, most: int, allow_empty: bool = False) -> tuple:
    """A tuple of non-empty str from a list or tuple (not a str: "xyz" is ambiguous)."""
    ok = (isinstance(value, (list, tuple)) and (allow_empty or value) and len(value) <= most
          and all(isinstance(v, str) and v for v in value))
    if not ok:
        count = f"at most {most}" if allow_empty else f"1 to {most}"
        raise invalid(name, value, f"a list or tuple of {count} non-empty str", owner=owner)
    return tuple(value)
