"""eml.connect_browser: a Device on the board plugged into the computer the notebook page runs
on, reached through the page's Web Serial port (see emlearn_lab.device.webserial)."""
from __future__ import annotations

from ...exceptions import BrowserLinkError, DeviceNotFoundError
from ...validate import invalid
from . import SCHEME, register

__all__ = ["connect_browser", "check_kernel"]

# How long the page has to answer a ping while the cell blocks. A subshell answers within
# milliseconds; without subshells nothing arrives until the cell ends.
PING_TIMEOUT_S = 20.0
PING_EVERY_S = 0.5
_SUBSHELLS_REMEDY = (
    "It needs JupyterLab >= 4.4 with ipykernel >= 7, and Settings > "
    "Kernels > 'Kernel Comms over subshells' not Disabled; classic Notebook, VS Code and "
    "Colab cannot. Elsewhere, plug the board into the computer the kernel runs on and use "
    "eml.connect(PORT).")


def check_kernel():
    """The running ipykernel, if it can handle widget messages while a cell runs; else a
    BrowserLinkError that says what is needed."""
    try:
        from ipykernel.kernelbase import Kernel
    except ImportError:
        Kernel = None
    if Kernel is None or not Kernel.initialized():
        raise BrowserLinkError("eml.connect_browser() runs in a notebook kernel, whose page "
                               "holds the board's port; outside one, use eml.connect(PORT).")
    kernel = Kernel.instance()
    if not getattr(kernel, "_supports_kernel_subshells", False):
        import ipykernel
        raise BrowserLinkError(
            f"this kernel (ipykernel {ipykernel.__version__}) cannot handle the page's "
            f"messages while a cell runs. {_SUBSHELLS_REMEDY}")
    return kernel


def connect_browser(name: str = "board", *, baudrate: int = 115200, wait_s: float = 300.0):
    """Connect to a MicroPython board through the notebook page's Web Serial port.

    Shows a "Connect board" button; clicking it makes the browser list the computer's serial
    ports, and the board picked is opened by the page, which then carries the bytes between the
    board and this kernel. Blocks until a board is connected (or ``wait_s`` passes), then
    returns a :class:`~emlearn_lab.Device` like ``eml.connect``'s: deploy, record, the live view
    and app install work unchanged. For a notebook served from elsewhere (Binder, a
    JupyterHub) with the board on the user's desk.

    Parameters
    ----------
    name : str
        Names the link (the Device's port is ``webserial://NAME``). Calling again with the same
        name reuses the page's open port without asking again.
    baudrate : int
        Line speed the page opens the port with (USB boards ignore it).
    wait_s : float
        How long to wait for the click and the port; the cell can be interrupted meanwhile.

    Returns
    -------
    Device

    Raises
    ------
    BrowserLinkError
        Not in a notebook kernel; the kernel or the front end cannot deliver the page's
        messages while a cell runs (the message says what is needed); the browser has no Web
        Serial (Chrome, Edge and Opera on desktops have it).
    DeviceNotFoundError
        No port was opened within ``wait_s``; or the port opened does not answer as
        MicroPython.

    Examples
    --------
    >>> dev = eml.connect_browser()          # doctest: +SKIP
    >>> report = dev.deploy(model, X)        # doctest: +SKIP
    """
    if not isinstance(name, str) or not name or "/" in name:
        raise invalid("name", name, "a non-empty str without '/'", owner="eml.connect_browser",
                      remedy="Pass a short name such as 'board' or 'left-wrist'.")
    check_kernel()
    register()
    from IPython.display import display

    from ...widgets.serial_widget import SerialWidget
    widget = SerialWidget(name=name, baud_rate=int(baudrate))
    display(widget)
    link = widget.link
    if not _pong(link, PING_TIMEOUT_S):     # (its reply also brings the page's state)
        raise BrowserLinkError(
            f"the page's messages do not reach the kernel while a cell runs (no answer to a "
            f"ping in {PING_TIMEOUT_S:g} s). {_SUBSHELLS_REMEDY}")
    state = link.wait_for(("open", "unsupported"), wait_s)
    if state == "unsupported":
        raise BrowserLinkError("this browser has no Web Serial: open the notebook in Chrome, "
                               "Edge or Opera on a desktop computer (Firefox and Safari, and "
                               "browsers on phones, do not have it).")
    if state != "open":
        detail = f" (last attempt: {link.reason})" if link.reason else ""
        raise DeviceNotFoundError(
            f"no board was connected in the page within {wait_s:g} s{detail}: click 'Connect "
            "board' and pick the board's port, then run the cell again.")
    from ..transport import Device
    return Device(f"{SCHEME}{name}", baudrate=baudrate)


def _pong(link, timeout_s: float) -> bool:
    """Whether the page answers a ping while this cell blocks. Pinged again every
    PING_EVERY_S: JupyterLab sends a new widget's first messages before its comm's subshell
    exists (Comm.send does not wait for it), and those wait for the cell to end."""
    import time
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if link.request({"kind": "ping"}, timeout_s=PING_EVERY_S, needs_port=False):
            return True
    return False
