"""eml.connect: a Device for "virtual", "emulated:BOARD", "auto" or a serial port path."""
import os

from ..exceptions import DeviceNotFoundError
from ..validate import invalid
from .emulated import PREFIX as _EMULATED, EmulatedDevice
from .transport import Device
from .virtual import VirtualDevice

__all__ = ["connect", "list_serial_ports"]

# USB vendor ids of boards that commonly run MicroPython (used by "auto").
_MICROPYTHON_VIDS = {0x2E8A: "Raspberry Pi", 0xF055: "MicroPython", 0x303A: "Espressif",
                     0x10C4: "Silicon Labs CP210x", 0x1A86: "WCH CH340", 0x0403: "FTDI",
                     0x239A: "Adafruit", 0x2341: "Arduino", 0x16C0: "Teensy"}


def list_serial_ports() -> list:
    """(port, description) of USB serial ports whose vendor commonly runs MicroPython."""
    try:
        from serial.tools import list_ports
    except ImportError:
        return []
    return [(p.device, f"{_MICROPYTHON_VIDS[p.vid]} {p.description}")
            for p in list_ports.comports() if p.vid in _MICROPYTHON_VIDS]


def connect(port: str = "virtual", *, heap_bytes: int | None = None, workdir=None,
            baudrate: int = 115200) -> Device:
    """Connect to a MicroPython device.

    Parameters
    ----------
    port : str
        ``"virtual"`` (default): the MicroPython unix port behind a pty, a real interpreter
        with its own filesystem directory. ``"emulated:BOARD"``: MicroPython v1.28 firmware
        for a 32-bit core run by qemu (``cortex-m3``, ``cortex-m3-2m``, ``cortex-m4f``,
        ``rv32imc``, ``cortex-m0``; see emlearn_lab.device.emulated), whose clock counts
        instructions. ``"auto"``: the first USB serial board that answers as a MicroPython
        REPL, else the virtual device. ``"browser"``: the board on the computer the notebook
        page runs on, through the page's Web Serial port (:func:`emlearn_lab.connect_browser`).
        Otherwise a serial port path.
    heap_bytes : int, optional
        Virtual device only: GC heap size, to emulate a board's RAM.
    workdir : path, optional
        Virtual device only: directory used as its filesystem (kept after close).

    Returns
    -------
    Device
        Use as a context manager or call ``close()``.

    Raises
    ------
    InputError
        ``port`` is not a str (or path), or ``heap_bytes`` / ``workdir`` given for a port
        other than "virtual".
    DeviceNotFoundError
        Nothing at that port, or it does not answer as MicroPython; an unknown emulated
        board, or its qemu or firmware missing (the message says how to get them).
    DeviceBusyError
        The port is open in another program.

    Examples
    --------
    >>> import emlearn_lab as eml
    >>> with eml.connect("virtual", heap_bytes=256 * 1024) as dev:
    ...     dev.eval("1 + 1")
    2
    """
    if isinstance(port, os.PathLike):
        port = os.fspath(port)
    if not isinstance(port, str):
        raise invalid("port", port, "'virtual', 'emulated:BOARD', 'auto' or a serial port path",
                      owner="eml.connect",
                      remedy=f"Pass a str (not a {type(port).__name__}), e.g. '/dev/ttyACM0', "
                             "'COM3' or 'emulated:cortex-m3'.")
    if port == "virtual":
        vdev = VirtualDevice(workdir=workdir, heap_bytes=heap_bytes)
        try:
            return Device(vdev.port, virtual=vdev)
        except Exception:
            vdev.close()
            raise
    for name, value in (("heap_bytes", heap_bytes), ("workdir", workdir)):
        if value is not None:
            raise invalid(name, value, f"None for port={port!r}", owner="eml.connect",
                          remedy="heap_bytes and workdir apply to port='virtual' only.")
    if port.startswith(_EMULATED) or port == _EMULATED.rstrip(":"):
        board = EmulatedDevice(port[len(_EMULATED):])
        try:
            return Device(board.port, virtual=board)
        except Exception:
            board.close()
            raise
    if port == "browser":
        from .webserial.connect import connect_browser
        return connect_browser(baudrate=baudrate)
    if port == "auto":
        for path, _ in list_serial_ports():
            try:
                return Device(path, baudrate=baudrate)
            except DeviceNotFoundError:
                continue
        return connect("virtual")
    return Device(port, baudrate=baudrate)
