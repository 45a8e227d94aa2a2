"""BrowserLink: the kernel's end of a serial port that the notebook page holds open.

Bytes from the board arrive as widget messages, handled in a kernel subshell thread while the
notebook's cell blocks in a read (JupyterLab >= 4.4 with ipykernel >= 7 hands comm messages to
subshells); bytes to the board leave as widget messages. Requests (ping, paste) wait for the
page's reply by id.

Messages, kernel -> page: ``write`` (+ bytes), ``paste`` (id; + the code: the page runs
MicroPython's raw-paste exchange against the port and replies), ``signals`` (dtr, rts),
``ping`` (id), ``abort`` (drop a paste in progress). Page -> kernel: ``data`` (+ bytes),
``opened`` (port info), ``lost`` / ``closed`` (reason), ``failed`` (why no port was opened),
``unsupported`` (no Web Serial in this browser), ``reply`` (id, status, ...).
"""
from __future__ import annotations

import itertools
import threading
import time

import serial

__all__ = ["BrowserLink", "get_link", "LinkLost"]

_LINKS: dict = {}                 # name -> BrowserLink, for webserial://NAME
# Bytes kept for the kernel to read; beyond, the oldest are dropped (a board that prints while
# nothing reads it, an app's events, would otherwise grow the kernel without bound). A serial
# driver drops too, past its few kB.
MAX_BUFFER_BYTES = 1 << 20
_LINKS_LOCK = threading.Lock()


class LinkLost(serial.SerialException):
    """The page's port is closed or unplugged: every read and write raises this (an OSError,
    which the Device turns into DeviceDisconnectedError)."""


def get_link(name: str) -> BrowserLink | None:
    with _LINKS_LOCK:
        return _LINKS.get(name)


class BrowserLink:
    """A byte pipe to the port the page opened, named for ``webserial://NAME``.

    Parameters
    ----------
    name : str
        The port's name in ``webserial://NAME``; a link of the same name is replaced.
    send : callable
        ``send(content: dict, buffers: list[bytes])`` delivers a message to the page.
    """

    def __init__(self, name: str, send):
        self.name = name
        self._send = send
        self._cond = threading.Condition()
        self._rx = bytearray()
        self.state = "waiting"         # waiting (no port yet), open, lost, closed, unsupported
        self.reason = ""               # why it is not open (from the page)
        self.port_info: dict = {}
        self.opened = 0                # ports opened so far (a replug opens another)
        self._page_opens = None        # the page's count of its openings, last seen
        self._replies: dict = {}
        self._waiting: set = set()     # ids of requests still waited for
        self._ids = itertools.count(1)
        self.handler_threads: dict = {}     # message kind ("reply:paste" for replies) -> names
        #                                     of the threads it arrived on
        self.bytes_in = self.bytes_out = 0
        self.requests = 0              # request() round trips, for the bench
        self.writes = 0                # write messages
        with _LINKS_LOCK:
            old = _LINKS.get(name)
            _LINKS[name] = self
        if old is not None:            # its Device now fails at once instead of waiting
            old.on_message({"kind": "closed", "reason": "a newer eml.connect_browser() "
                            f"took the port {name!r}: use the Device it returned"}, [])

    # -- page -> kernel (any thread: a kernel subshell while a cell runs) -----------------
    def on_message(self, content: dict, buffers) -> None:
        kind = content.get("kind")
        with self._cond:
            key = f"reply:{content.get('of')}" if kind == "reply" else kind
            self.handler_threads.setdefault(key, set()).add(threading.current_thread().name)
            if kind == "data":
                for b in buffers or ():
                    self._rx += b
                    self.bytes_in += len(b)
                if len(self._rx) > MAX_BUFFER_BYTES:
                    del self._rx[:len(self._rx) - MAX_BUFFER_BYTES]
            elif kind == "reply":
                if content.get("of") == "ping" and content.get("state") in ("open",
                                                                            "unsupported"):
                    self._page_state(content.get("state"), content)
                if content.get("id") in self._waiting:   # late replies are dropped
                    self._replies[content.get("id")] = content
            elif kind == "opened":
                self._page_state("open", content)
            elif kind in ("lost", "closed", "failed", "unsupported"):
                if kind != "failed" or self.state != "open":
                    self.state = "waiting" if kind == "failed" else kind
                self.reason = str(content.get("reason") or "")
            self._cond.notify_all()

    def _page_state(self, state: str, content: dict) -> None:
        """The page says its port is open (its ``opens``-th opening) or that it has no Web
        Serial; said twice when a message sent before the widget's subshell existed arrives
        late, so the same opening is taken once (a second would drop bytes read since)."""
        if state == "unsupported":
            self.state, self.reason = "unsupported", str(content.get("reason") or "")
            return
        opens = content.get("opens")
        if opens is not None and opens == self._page_opens:
            return
        self._page_opens = opens
        self._rx.clear()
        self._replies.clear()
        self.state, self.reason = "open", ""
        self.port_info = dict(content.get("info") or {})
        self.opened += 1

    # -- kernel -> page -------------------------------------------------------------------
    def _check_open(self) -> None:
        if self.state != "open":
            raise LinkLost(self.why_not_open())

    def why_not_open(self) -> str:
        if self.state == "waiting":
            return (f"no board is connected to the page's port {self.name!r} yet: click "
                    "'Connect board' in the widget eml.connect_browser() showed")
        detail = f" ({self.reason})" if self.reason else ""
        return (f"the page's port {self.name!r} is {self.state}{detail}: plug the board in "
                "and click 'Connect board' again")

    def write(self, data: bytes) -> None:
        self._check_open()
        data = bytes(data)
        if data:
            self.writes += 1
            self.bytes_out += len(data)
            self._send({"kind": "write"}, [data])

    def read(self, size: int, timeout_s: float | None) -> bytes:
        """Up to ``size`` bytes: returns as soon as ``size`` have arrived, or what arrived when
        ``timeout_s`` passes (None: wait as long as it takes); raises LinkLost if the port
        closes with nothing left to read."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while len(self._rx) < size:
                if self.state != "open":
                    if self._rx:
                        break
                    raise LinkLost(self.why_not_open())
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(0.2 if left is None else min(left, 0.2))
            out = bytes(self._rx[:size])
            del self._rx[:size]
            return out

    def in_waiting(self) -> int:
        with self._cond:
            if not self._rx and self.state != "open":
                raise LinkLost(self.why_not_open())
            return len(self._rx)

    def clear_input(self) -> None:
        with self._cond:
            self._rx.clear()

    def request(self, content: dict, buffers=(), *, timeout_s: float,
                needs_port: bool = True) -> dict | None:
        """Send a request and wait up to ``timeout_s`` for the page's reply (None if none
        came). Raises LinkLost if the port closes meanwhile (when ``needs_port``)."""
        if needs_port:
            self._check_open()
        rid = next(self._ids)
        self.requests += 1
        with self._cond:
            self._waiting.add(rid)
        self._send(dict(content, id=rid), list(buffers))
        deadline = time.monotonic() + timeout_s
        with self._cond:
            try:
                while rid not in self._replies:
                    if needs_port and self.state != "open":
                        raise LinkLost(self.why_not_open())
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self._cond.wait(min(left, 0.2))
                return self._replies.pop(rid)
            finally:
                self._waiting.discard(rid)

    def wait_for(self, states, timeout_s: float) -> str:
        """Wait until the link's state is one of ``states`` (or timeout_s passes); returns
        the state."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self.state not in states:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.2))
            return self.state

    def signals(self, **levels) -> None:
        """Set DTR / RTS on the page's port (``dtr=``, ``rts=``), as pyserial would."""
        if self.state == "open":
            self._send({"kind": "signals", **levels}, [])

    def paste(self, code: bytes, timeout_s: float) -> dict:
        """Have the page write a command with MicroPython's raw-paste exchange (see
        :mod:`.transport`); returns its reply, {"status": ...}."""
        code = bytes(code)
        self.bytes_out += len(code)
        reply = self.request({"kind": "paste"}, [code], timeout_s=timeout_s)
        if reply is None:
            self.abort()
            raise LinkLost(f"the page did not finish writing {len(code)} bytes to the board "
                           f"within {timeout_s:g} s")
        return reply

    def abort(self) -> None:
        """Drop a paste the page may still run (after the kernel gave up waiting)."""
        if self.state == "open":
            self._send({"kind": "abort"}, [])

    def forget(self) -> None:
        with _LINKS_LOCK:
            if _LINKS.get(self.name) is self:
                del _LINKS[self.name]
