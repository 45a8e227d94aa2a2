"""What an installed app does when an event begins or ends, chained with ``|``::

    on_event = eml.actions.Print() | eml.actions.Log("events.csv") | eml.actions.Pin(25)
"""
from __future__ import annotations

from ..exceptions import InputError
from ..validate import int_in, invalid

__all__ = ["Print", "Log", "Pin", "Actions"]

_OWNER = "eml.actions"


class _Action:
    def __or__(self, other) -> Actions:
        return Actions((self,)) | other


class Actions(_Action):
    """Actions in the order they run; made with ``|``."""

    def __init__(self, actions=()):
        self.actions = tuple(actions)

    def __or__(self, other) -> Actions:
        if isinstance(other, Actions):
            return Actions(self.actions + other.actions)
        if not isinstance(other, _Action):
            raise InputError(f"on_event chains eml.actions with |, got {type(other).__name__}."
                             " Use eml.actions.Print, Log or Pin")
        return Actions(self.actions + (other,))

    def spec(self, labels) -> list:
        kinds = [type(a).__name__ for a in self.actions]
        for k in ("Print", "Log"):
            if kinds.count(k) > 1:
                raise InputError(f"eml.actions.{k} appears twice in on_event: keep one")
        return [a._spec(labels) for a in self.actions]

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.actions)) if self.actions else "Actions()"


class Print(_Action):
    """Print each event's beginning and end on the board's console (its USB serial), as
    ``emlab_app on <first window> <label>`` and ``emlab_app off <first> <end> <label>``."""

    def _spec(self, labels) -> list:
        return ["print"]

    def __repr__(self) -> str:
        return "Print()"


class Log(_Action):
    """Append the same lines to a file on the board. Past ``max_bytes`` the file becomes
    ``path + ".old"`` (replacing the previous one) and a new one starts: the log never takes
    more than twice ``max_bytes`` of the board's filesystem."""

    def __init__(self, path: str = "events.log", max_bytes: int = 16384):
        if not isinstance(path, str) or not path or "\n" in path or len(path) > 64:
            raise invalid("path", path, "a file name of 1..64 characters",
                          owner=f"{_OWNER}.Log")
        self.path = path
        self.max_bytes = int_in("max_bytes", max_bytes, 256, 2**30, owner=f"{_OWNER}.Log")

    def _spec(self, labels) -> list:
        return ["log", self.path, self.max_bytes]

    def __repr__(self) -> str:
        return f"Log({self.path!r}, max_bytes={self.max_bytes})"


class Pin(_Action):
    """Drive a GPIO pin high while an event (of class ``cls``, or any) is on."""

    def __init__(self, pin, cls=None):
        if not isinstance(pin, (int, str)) or isinstance(pin, bool):
            raise invalid("pin", pin, "a pin number or name", owner=f"{_OWNER}.Pin")
        self.pin = pin
        self.cls = cls

    def _spec(self, labels) -> list:
        if self.cls is None:
            return ["pin", self.pin, -1]
        if self.cls not in labels:
            raise invalid("cls", self.cls, f"one of the model's classes {list(labels)}",
                          owner=f"{_OWNER}.Pin")
        return ["pin", self.pin, list(labels).index(self.cls)]

    def __repr__(self) -> str:
        return f"Pin({self.pin!r}" + (f", cls={self.cls!r})" if self.cls is not None else ")")


def as_actions(on_event) -> Actions:
    if on_event is None:
        return Actions((Print(),))
    if isinstance(on_event, Actions):
        return on_event
    if isinstance(on_event, _Action):
        return Actions((on_event,))
    raise invalid("on_event", on_event, "eml.actions joined with | (or None: Print())",
                  owner="eml.DeviceApp")
