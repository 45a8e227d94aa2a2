"""SerialWidget: the "Connect board" button, and the page's end of a Web Serial link.

The page (static/webserial.js) opens the board the user picks and relays its bytes; this
class owns the kernel's end (a :class:`~emlearn_lab.device.webserial.link.BrowserLink`) and
feeds it the page's messages, which ipykernel >= 7 delivers in a subshell thread while a cell
blocks on the board.
"""
from __future__ import annotations

import pathlib

import anywidget
import traitlets

from ..device.webserial.link import BrowserLink

__all__ = ["SerialWidget"]

_STATIC = pathlib.Path(__file__).parent / "static"


class SerialWidget(anywidget.AnyWidget):
    """A button that opens a board with the browser's Web Serial API, and its status line.

    Parameters
    ----------
    name : str
        The link's name: the board is then the pyserial port ``webserial://NAME``.
    baud_rate : int
        Line speed the page opens the port with (USB boards ignore it).
    """

    _esm = _STATIC / "webserial.js"
    _css = _STATIC / "webserial.css"

    name = traitlets.Unicode("board").tag(sync=True)
    baud_rate = traitlets.Int(115200).tag(sync=True)
    buffer_bytes = traitlets.Int(4096).tag(sync=True)

    def __init__(self, name: str = "board", baud_rate: int = 115200, **kwargs):
        super().__init__(name=name, baud_rate=baud_rate, **kwargs)
        self.link = BrowserLink(name, self._send_to_page)
        self.on_msg(self._on_page_message)
        self.replies_follow_sender = not route_replies_to_page_subshell(self.comm)

    def _send_to_page(self, content: dict, buffers: list) -> None:
        self.send(content, buffers=buffers or None)

    def _on_page_message(self, _widget, content, buffers) -> None:
        if isinstance(content, dict):
            self.link.on_message(content, buffers)

    def close(self) -> None:
        link = getattr(self, "link", None)     # absent if __init__ failed before it
        if link is not None:
            link.forget()
        super().close()


def route_replies_to_page_subshell(comm) -> bool:
    """Deliver the page's messages on this comm to the subshell the page sends them to.

    ipykernel 7.x (``Comm._reply_subshell_for``, ``Kernel.shell_channel_thread_main``) routes
    an incoming comm message to the subshell that last *published* on the comm, so that a
    widget's replies reach the thread that asked. Here the cell's thread publishes (writes to
    the board) and then blocks reading the board's answer: with that routing the answer would
    queue behind the blocked cell. This keeps the page's own choice (its comm-target subshell).
    Returns False where the kernel has no such routing (nothing to undo).
    """
    if not hasattr(comm, "_reply_subshell_for"):
        return False
    comm._reply_subshell_for = lambda data, default: default
    return True
