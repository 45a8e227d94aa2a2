"""A board on the user's computer, reached through the notebook page's Web Serial port.

The page (a widget, :mod:`emlearn_lab.widgets.serial_widget`) opens the board with the
browser's Web Serial API and carries bytes between it and the kernel over the widget's comm;
:mod:`.link` is the kernel's end of that pipe, :mod:`.protocol_webserial` makes it a pyserial
port (``webserial://NAME``) so that mpremote's transport runs on it unchanged, and
:mod:`.transport` moves the two chatty parts of mpremote's protocol into the page (raw-paste
flow control; files in base64 chunks) so that a deploy costs one round trip per command, not
one per 128 bytes. Start it with :func:`emlearn_lab.connect_browser`.
"""
import serial

SCHEME = "webserial://"


def register() -> None:
    """Make ``serial.serial_for_url("webserial://NAME")`` open a browser link (idempotent)."""
    if __name__ not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(__name__)
