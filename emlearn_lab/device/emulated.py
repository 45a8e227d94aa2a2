"""Emulated boards: real MicroPython firmware for 32-bit microcontroller cores, run by qemu.

``eml.connect("emulated:cortex-m3")`` starts ``qemu-system-arm`` (``qemu-system-riscv32`` for
``rv32imc``) with that board's firmware, its UART on a pty that mpremote drives like a USB
board's serial port. qemu counts instructions (``-icount shift=0``): the board's
``time.ticks_us()`` advances 1 us per 1000 guest instructions, whatever the host's load, so
device timings are instruction counts.

What differs from a physical board: the UART carries ~3-4 kB/s; Ctrl-C does not stop running
code (nothing polls the UART while Python runs), so a hung board is cleared by restarting qemu
(:meth:`EmulatedDevice.start`), which loses its RAM filesystem; a soft reset (Ctrl-D) keeps it.

Firmware is looked for, in order, in ``$EMLEARN_LAB_FIRMWARE`` (a directory, or several
separated by ``:``), in the user's cache (``~/.cache/emlearn_lab/firmware``, or
``$EMLEARN_LAB_CACHE/firmware``), and, in a development checkout, in ``../shared/qemu`` beside it.
"""
import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import DeviceNotFoundError

__all__ = ["EmulatedBoard", "EmulatedDevice", "BOARDS", "PREFIX", "firmware_dirs",
           "find_firmware", "board_status"]

PREFIX = "emulated:"
INSTRUCTIONS_PER_US = 1000   # -icount shift=0: 1 ns of virtual time per guest instruction
FIRMWARE_ENV = "EMLEARN_LAB_FIRMWARE"

# Host seconds per second of the board's clock, as waits assume it: qemu runs ~100-200 M
# guest instructions per host second (5.2 host s per board s measured on 2 busy cores, load 8),
# so a wait sized from the board's own time (budget.timeout_s: 4x it plus a constant) is
# stretched this much: enough for a host ~4x busier still.
TIMEOUT_SCALE = 5.0
_START_TIMEOUT_S = 30.0      # qemu reports its pty within ~0.2 s, the REPL ~0.1 s later
_LIVE: "weakref.WeakSet[EmulatedDevice]" = weakref.WeakSet()
_started = 0                 # boards started by this process (spreads them over host cores)

# qemu runs in a shell that kills it when the host goes away: the shell reads the pipe the
# host holds open (stdin, moved to fd 3) and kills qemu at end of file, which also comes when
# the host is killed (SIGKILL runs no atexit handler). The shell exits when qemu does.
_WATCHDOG = ('exec 3<&0 </dev/null; "$@" & q=$!; '
             '{ read -r _ <&3; kill -9 $q 2>/dev/null; } & r=$!; '
             'wait $q; s=$?; kill $r 2>/dev/null; exit $s')


@dataclass(frozen=True)
class EmulatedBoard:
    """One emulated board: its firmware file and the qemu command that runs it."""
    name: str
    firmware: str            # file name in a firmware directory
    qemu: tuple              # qemu program and machine options
    package: str             # Debian package that has the qemu program
    description: str

    @property
    def program(self) -> str:
        return self.qemu[0]


BOARDS = {b.name: b for b in (
    EmulatedBoard("cortex-m3", "cortex-m3-200k.elf",
                  ("qemu-system-arm", "-machine", "mps2-an385"), "qemu-system-arm",
                  "Cortex-M3 (mps2-an385), armv7em, ~198 KiB heap"),
    EmulatedBoard("cortex-m3-2m", "cortex-m3-2m.elf",
                  ("qemu-system-arm", "-machine", "mps2-an385"), "qemu-system-arm",
                  "Cortex-M3 (mps2-an385), armv7em, ~2 MiB heap"),
    EmulatedBoard("cortex-m4f", "cortex-m4f-200k.elf",
                  ("qemu-system-arm", "-machine", "mps2-an386"), "qemu-system-arm",
                  "Cortex-M4F (mps2-an386), armv7emsp, ~198 KiB heap"),
    EmulatedBoard("rv32imc", "rv32imc-200k.elf",
                  ("qemu-system-riscv32", "-machine", "virt", "-bios", "none"),
                  "qemu-system-misc", "RISC-V 32 (virt), rv32imc + Zba, ~198 KiB heap"),
    EmulatedBoard("cortex-m0", "cortex-m0-200k.elf",
                  ("qemu-system-arm", "-machine", "microbit",
                   "-global", "nrf51-soc.flash-size=1048576",
                   "-global", "nrf51-soc.sram-size=262144"), "qemu-system-arm",
                  "Cortex-M0 (microbit, nRF51 with 256 KiB SRAM), armv6m, ~198 KiB heap"),
)}


def firmware_dirs() -> list:
    """Directories searched for firmware, in order: ``$EMLEARN_LAB_FIRMWARE`` (``:``-separated),
    the user's cache, and ``../shared/qemu`` beside a development checkout."""
    dirs = [Path(p).expanduser() for p in os.environ.get(FIRMWARE_ENV, "").split(os.pathsep)
            if p]
    cache = os.environ.get("EMLEARN_LAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "emlearn_lab")
    dirs.append(Path(cache) / "firmware")
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").exists():
        dirs.append(checkout.parent / "shared" / "qemu")
    return dirs


def find_firmware(board: str) -> Path | None:
    """Path of ``board``'s firmware in the first firmware directory that has it, else None."""
    spec = _board(board)
    for d in firmware_dirs():
        path = d / spec.firmware
        if path.is_file():
            return path
    return None


def board_status() -> list:
    """(board, description, firmware path or None, qemu program found) of every emulated board."""
    return [(b.name, b.description, find_firmware(b.name), shutil.which(b.program) is not None)
            for b in BOARDS.values()]


def _board(name: str) -> EmulatedBoard:
    spec = BOARDS.get(name)
    if spec is None:
        raise DeviceNotFoundError(
            f"unknown emulated board {name!r}: expected one of {', '.join(BOARDS)} "
            f"(e.g. eml.connect('{PREFIX}cortex-m3'))")
    return spec


class EmulatedDevice:
    """A qemu process running MicroPython firmware, its UART reachable as a serial port.

    Parameters
    ----------
    board : str
        ``cortex-m3``, ``cortex-m3-2m``, ``cortex-m4f``, ``rv32imc`` or ``cortex-m0``.
    firmware : path, optional
        The firmware ELF (default: found with :func:`find_firmware`).
    wall_clock : bool
        Run qemu without instruction counting (faster on the host; ticks are then host time,
        not instructions).

    Attributes
    ----------
    port : str
        The pty to open as a serial port (changes when qemu restarts).
    instructions_per_us : int or None
        1000: the board's clock counts instructions; None with ``wall_clock``.
    soft_reset : bool
        True: a Ctrl-D soft reset works and keeps the (RAM) filesystem; :meth:`start`
        restarts qemu, the only way to stop code that hangs (Ctrl-C cannot), and loses it.
    timeout_scale : float
        Device waits are stretched this much: the emulated clock runs slower than the host's
        (with ``wall_clock`` it is the host's, and the scale 1).

    Raises
    ------
    DeviceNotFoundError
        Unknown board, qemu or firmware missing (the message says how to get them), or the
        firmware did not answer.

    Use as a context manager, or call :meth:`close`; leftovers are closed when collected or at
    interpreter exit, and qemu ends by itself when the Python that started it is killed.
    """

    soft_reset = True

    def __init__(self, board: str, firmware=None, wall_clock: bool = False):
        self.board = _board(board)
        self.kind = PREFIX + self.board.name
        if shutil.which(self.board.program) is None:
            raise DeviceNotFoundError(
                f"emulated board {board!r} needs {self.board.program}, which is not "
                f"installed: apt-get install {self.board.package}")
        path = Path(firmware) if firmware is not None else find_firmware(board)
        if path is None or not path.is_file():
            where = str(path) if path is not None else ", ".join(map(str, firmware_dirs()))
            raise DeviceNotFoundError(
                f"firmware {self.board.firmware} for emulated board {board!r} not found in "
                f"{where}: put it in one of those directories, or set {FIRMWARE_ENV} to the "
                "directory that has it")
        self.firmware = path
        self.wall_clock = bool(wall_clock)
        self.instructions_per_us = None if self.wall_clock else INSTRUCTIONS_PER_US
        self.timeout_scale = 1.0 if self.wall_clock else TIMEOUT_SCALE
        self.port = None
        self._proc = None
        self._log = None
        self._lifeline = None
        self.start()
        _LIVE.add(self)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start (or restart) qemu and wait for the MicroPython REPL. A restart loses the
        board's RAM filesystem and stops whatever ran (the only way to stop a hang)."""
        global _started
        self._shutdown_process()
        command = [*self.board.qemu, "-nographic", "-monitor", "none", "-semihosting",
                   "-serial", "pty", "-kernel", str(self.firmware)]
        if not self.wall_clock:
            command += ["-icount", "shift=0"]
        # One host core per qemu: it hands the guest one received byte per main-loop round
        # trip, and keeping its threads together doubles the UART's throughput.
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if cores and shutil.which("taskset"):
            command = ["taskset", "-c", str(cores[_started % len(cores)]), *command]
        _started += 1
        self._log = tempfile.TemporaryFile(prefix="emlab-qemu-")  # unlinked already
        read_end, lifeline = os.pipe()
        # Closing the pipe ends qemu: on close(), when this object is collected, or at exit.
        self._lifeline = weakref.finalize(self, os.close, lifeline)
        try:
            self._proc = subprocess.Popen(["sh", "-c", _WATCHDOG, "sh", *command],
                                          stdin=read_end, stdout=self._log, stderr=self._log,
                                          close_fds=True, start_new_session=True)
        finally:
            os.close(read_end)
        try:
            self.port = self._wait_for_pty()
            self._wait_for_repl()
        except BaseException:
            self._shutdown_process()
            raise

    def _log_text(self) -> str:
        if self._log is None:
            return ""
        return os.pread(self._log.fileno(), 65536, 0).decode(errors="replace")

    def _fail(self, what: str) -> DeviceNotFoundError:
        log = " | ".join(ln for ln in self._log_text().splitlines() if ln.strip())[:400]
        return DeviceNotFoundError(
            f"emulated board {self.board.name!r}: {what} (qemu said: {log or 'nothing'}); "
            f"check that {self.firmware} is this board's MicroPython firmware")

    def _wait_for_pty(self) -> str:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            # "char device redirected to /dev/pts/3 (label serial0)"; /dev/ttys003 on macOS
            m = re.search(r"redirected to (/dev/\S+)", self._log_text())
            if m:
                return m.group(1)
            if self._proc.poll() is not None:
                raise self._fail(f"qemu exited with status {self._proc.returncode}")
            time.sleep(0.05)
        raise self._fail(f"qemu reported no pty within {_START_TIMEOUT_S:g} s")

    def _wait_for_repl(self) -> None:
        """Ctrl-C until the friendly REPL's prompt comes back (the boot banner went to a pty
        nobody had open)."""
        import serial
        deadline = time.monotonic() + _START_TIMEOUT_S
        with serial.Serial(self.port, timeout=0.2) as link:
            seen = b""
            while time.monotonic() < deadline:
                link.write(b"\r\x03")
                seen = (seen + link.read(256))[-512:]
                if b">>> " in seen:
                    return
                if self._proc.poll() is not None:
                    raise self._fail(f"qemu exited with status {self._proc.returncode}")
        raise self._fail(f"no MicroPython prompt within {_START_TIMEOUT_S:g} s "
                         f"(it sent {seen[-80:]!r})")

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the shell that runs qemu (its process group holds qemu too)."""
        return None if self._proc is None else self._proc.pid

    def kill(self) -> None:
        """Kill qemu as if the board lost power (the pty goes away, reads fail)."""
        if self._proc is not None and self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait()

    def close(self) -> None:
        self._shutdown_process()
        _LIVE.discard(self)

    def _shutdown_process(self) -> None:
        self.kill()
        if self._proc is not None:
            # The watchdog's reader may outlive the shell by a moment: its group goes too.
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._lifeline is not None:
            self._lifeline()      # closes the pipe (once)
            self._lifeline = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.alive else "stopped"
        return f"EmulatedDevice({self.board.name!r}, port={self.port!r}, {state})"


@atexit.register
def _close_all() -> None:
    for dev in list(_LIVE):
        dev.close()
