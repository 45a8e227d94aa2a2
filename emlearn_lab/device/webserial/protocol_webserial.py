"""pyserial's handler for ``webserial://NAME``: a port that the notebook page holds open.

pyserial imports ``<package>.protocol_<scheme>`` for a URL; :func:`emlearn_lab.device.webserial
.register` puts this package on its list, so mpremote's ``SerialTransport`` (which opens ports
with ``serial.serial_for_url``) reaches the board through the page unchanged. Line settings
(baud rate, parity) belong to the page's port and are set there when it is opened; DTR and RTS
are forwarded.
"""
from __future__ import annotations

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from . import SCHEME
from .link import get_link

__all__ = ["Serial"]


class Serial(SerialBase):
    """A pyserial port backed by a :class:`~emlearn_lab.device.webserial.link.BrowserLink`."""

    _link = None

    def open(self) -> None:
        if self._port is None:
            raise SerialException("a webserial:// port needs a name: webserial://NAME")
        if self.is_open:
            raise SerialException("port already open")
        name = str(self._port)[len(SCHEME):] if str(self._port).lower().startswith(SCHEME) \
            else str(self._port)
        link = get_link(name)
        if link is None:
            raise SerialException(f"no browser port named {name!r}: run "
                                  "eml.connect_browser() in this notebook first")
        if link.state != "open":
            raise SerialException(link.why_not_open())
        self._link = link
        self.is_open = True
        self._update_dtr_state()
        self._update_rts_state()

    def close(self) -> None:
        """Release the link; the page keeps its port open for the next connection."""
        self.is_open = False
        self._link = None

    def _reconfigure_port(self, *args, **kwargs) -> None:
        """The page opened the port with its line settings; nothing to do here."""

    def _live(self):
        if not self.is_open or self._link is None:
            raise PortNotOpenError()
        return self._link

    @property
    def in_waiting(self) -> int:
        return self._live().in_waiting()

    def read(self, size: int = 1) -> bytes:
        return self._live().read(size, self._timeout)

    def write(self, data) -> int:
        self._live().write(data)
        return len(data)

    def flush(self) -> None:
        """Writes leave as messages in order; there is no buffer to drain here."""

    def reset_input_buffer(self) -> None:
        self._live().clear_input()

    def reset_output_buffer(self) -> None:
        """Nothing is buffered on this side."""

    def _update_dtr_state(self) -> None:
        if self._link is not None:
            self._link.signals(dtr=bool(self._dtr_state))

    def _update_rts_state(self) -> None:
        if self._link is not None:
            self._link.signals(rts=bool(self._rts_state))

    def _update_break_state(self) -> None:
        """Break conditions are not forwarded."""

    @property
    def openings(self) -> int:
        """How many times the page has opened its port (a replug, another board)."""
        return self._live().opened

    def paste(self, code: bytes, timeout_s: float) -> dict:
        """Have the page write ``code`` with MicroPython's raw-paste flow control (see
        :mod:`.transport`); returns its reply, {"status": ...}."""
        return self._live().paste(code, timeout_s)

    # Modem lines are not asked of the page (a round trip each, and mpremote never reads them).
    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
