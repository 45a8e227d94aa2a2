"""BrowserTransport: mpremote's serial transport with its two chatty exchanges done in one
round trip each, for a port at the far end of a network link (the notebook page).

- **Raw paste.** mpremote writes a command in windows of the board's size (128-256 bytes) and
  waits for the board's acknowledgement byte after each: one network round trip per window.
  Here the whole command goes to the page in one message; the page runs the exchange
  (``Ctrl-E A Ctrl-A``, windows, end-of-data acknowledgement) against the port and replies once.
  The bytes on the board's wire are exactly mpremote's.
- **Files.** mpremote sends ``w(b'...')`` (``repr`` of the bytes, up to 4x the data) per
  256-byte chunk, and reads a file one command per chunk. Here each write command carries
  :data:`FILE_CHUNK_BYTES` of base64 (4/3 of the data), the open riding on the first and the
  close (and the Device's rename) on the last, and a file is read in one command.
"""
from __future__ import annotations

import base64
import time

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

__all__ = ["BrowserTransport", "FILE_CHUNK_BYTES"]

# Bytes of file data per command: 5.4 kB of base64 in the command, and its decoded 4 kB, are
# the device heap a file write needs at its peak (small enough for boards with 32 kB free).
FILE_CHUNK_BYTES = 4096
_RAW_REPL_BANNER = b"raw REPL; CTRL-B to exit\r\n"


class BrowserTransport(SerialTransport):
    """mpremote's SerialTransport on a ``webserial://`` port (see the module docstring)."""

    writes_then = True        # fs_writefile runs code after the write in its last command

    # Seconds allowed for the page to write a command of n bytes: a fixed allowance plus
    # 1 kB/s (a 9600-baud board with its windows).
    PASTE_BASE_S = 20.0
    PASTE_BYTES_PER_S = 1000.0

    def enter_raw_repl(self, soft_reset=True, timeout_overall=10):
        """As mpremote's, retried once: opening a port resets some boards (ESP32 through
        DTR/RTS), whose boot messages can swallow the first Ctrl-C."""
        self._openings = self.serial.openings
        try:
            return super().enter_raw_repl(soft_reset=soft_reset,
                                          timeout_overall=timeout_overall)
        except TransportError:
            self.read_until(1, _RAW_REPL_BANNER, timeout=1.0, timeout_overall=3.0)
            return super().enter_raw_repl(soft_reset=soft_reset,
                                          timeout_overall=timeout_overall)

    def exec_raw_no_follow(self, command):
        command_bytes = command if isinstance(command, bytes) else command.encode()
        if self.serial.openings != getattr(self, "_openings", None):
            # The page opened its port again (the user picked a board anew): what the board
            # said before is gone, so get its raw REPL prompt afresh.
            self.enter_raw_repl(soft_reset=False)
        if not self.use_raw_paste:
            return super().exec_raw_no_follow(command_bytes)
        data = self.read_until(1, b">")
        if not data.endswith(b">"):
            raise TransportError("could not enter raw repl")
        timeout_s = self.PASTE_BASE_S + len(command_bytes) / self.PASTE_BYTES_PER_S
        reply = self.serial.paste(command_bytes, timeout_s)
        status = reply.get("status")
        if status in ("ok", "abrupt"):
            return None
        if status == "unexpected":
            raise TransportError(f"unexpected read during raw paste: {reply.get('detail')}")
        if status == "refused":          # the board knows raw paste but does not support it
            self.use_raw_paste = False
        elif status == "unknown":        # an old board: its reply is forwarded, then a prompt
            self.use_raw_paste = False
            data = self.read_until(1, b"w REPL; CTRL-B to exit\r\n>")
            if not data.endswith(b"w REPL; CTRL-B to exit\r\n>"):
                raise TransportError("could not enter raw repl")
        else:
            raise TransportError(f"the page could not write the command: {reply.get('detail')}")
        self._write_raw_repl(command_bytes)
        return None

    def _write_raw_repl(self, command_bytes: bytes) -> None:
        """The plain raw REPL (no flow control): 256 bytes every 10 ms, as mpremote does."""
        for i in range(0, len(command_bytes), 256):
            self.serial.write(command_bytes[i:i + 256])
            time.sleep(0.01)
        self.serial.write(b"\x04")
        data = self.serial.read(2)
        if data != b"OK":
            raise TransportError(f"could not exec command (response: {data!r})")

    def fs_writefile(self, dest, data, chunk_size=256, progress_callback=None, then=""):
        """Write ``data`` to ``dest`` in base64 commands of FILE_CHUNK_BYTES (at least
        ``chunk_size``), then run the code ``then`` in the last one (the Device's rename);
        mpremote's way where the board has no binascii."""
        if not getattr(self, "has_binascii", True):
            super().fs_writefile(dest, data, chunk_size, progress_callback)
            if then:
                self.exec(then)
            return None
        step = max(int(chunk_size), FILE_CHUNK_BYTES)
        starts = range(0, len(data), step) if data else [0]
        for k, at in enumerate(starts):
            chunk = data[at:at + step]
            code = (f"from binascii import a2b_base64 as _d\n_f=open({dest!r},'wb')\n"
                    if k == 0 else "")
            if chunk:
                code += f"_f.write(_d({base64.b64encode(chunk).decode()!r}))\n"
            if k == len(starts) - 1:
                code += "_f.close()\ndel _f, _d\n" + then
            try:
                self.exec(code)
            except TransportExecError as e:
                # the import comes first, so nothing was opened: mpremote's way instead
                if k == 0 and "ImportError" in e.error_output:
                    self.has_binascii = False
                    return self.fs_writefile(dest, data, chunk_size, progress_callback, then)
                raise
            if progress_callback:
                progress_callback(at + len(chunk), len(data))
        return None

    def fs_readfile(self, src, chunk_size=256, progress_callback=None):
        """The whole file in one command (base64 lines of FILE_CHUNK_BYTES), not one command
        per ``chunk_size`` as mpremote; mpremote's way where the board has no binascii."""
        if not getattr(self, "has_binascii", True):
            return super().fs_readfile(src, chunk_size, progress_callback)
        code = (f"from binascii import b2a_base64 as _e\n_f=open({src!r},'rb')\n"
                f"while True:\n _b=_f.read({FILE_CHUNK_BYTES})\n if not _b:\n  break\n"
                " print(_e(_b).decode().strip())\n_f.close()\ndel _f, _b, _e\n")
        try:
            out = self.exec(code)
        except TransportExecError as e:
            if "ImportError" in e.error_output:
                self.has_binascii = False
                return super().fs_readfile(src, chunk_size, progress_callback)
            raise
        return bytearray(b"".join(base64.b64decode(line) for line in out.split()))
