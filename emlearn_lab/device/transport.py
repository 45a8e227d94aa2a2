"""Device: a MicroPython board (or the virtual device) driven through mpremote's transport.

All device I/O goes through mpremote's ``SerialTransport`` (``exec``/``eval`` and its fs_*
helpers); errors are translated here into the emlearn_lab hierarchy: a MemoryError on the
device becomes DeviceMemoryError, a dead link DeviceDisconnectedError, and so on.
"""
import contextlib
import functools
import hashlib
import re
import threading
import time

from ..runtime.build import Target
from ..exceptions import (
    DeviceBusyError,
    DeviceDisconnectedError,
    DeviceError,
    DeviceMemoryError,
    DeviceNotFoundError,
    DeviceRuntimeError,
    DeviceTimeoutError,
)

__all__ = ["Device"]

_CHUNK_BYTES = 1024
_BROWSER = "webserial://"     # a board reached through the notebook page (device/webserial)


def _locked(method):
    """Run a Device method holding ``dev.lock``: one raw-REPL conversation at a time, also
    when a background thread (the live comparison) shares the device with the notebook."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.lock:
            return method(self, *args, **kwargs)
    return wrapper


class Device:
    """A connected MicroPython device. Create it with :func:`emlearn_lab.connect`.

    Parameters
    ----------
    port : str
        Serial port path (``/dev/ttyACM0``) or the virtual device's pty.
    virtual : VirtualDevice, optional
        The virtual device behind ``port``; reconnecting restarts it if it died.

    Notes
    -----
    Every method that talks to the device holds ``dev.lock`` (a re-entrant lock) while it
    does, so threads can share one Device: a call waits for the one in progress. A compound
    job (several calls that must not be interleaved) takes ``with dev.lock:`` itself.
    """

    def __init__(self, port: str, virtual=None, baudrate: int = 115200):
        self.port = port
        self.virtual = virtual
        self.baudrate = baudrate
        self._transport = None
        self._info = None
        self.lock = threading.RLock()
        self.closed = False      # close() was called (a background user then stops)
        self.deployed = None     # the last DeployedModel (see deploy.py)
        self.deployments = {}    # every DeployedModel of this session, by name
        self._streaming = False  # exec_streaming's program runs, its end not read yet
        self._stream_ends_at = None  # when it ends by itself (time.monotonic()), if known
        self.ensure_connected()

    # -- connection ------------------------------------------------------------------------
    @_locked
    def ensure_connected(self) -> None:
        """Open the port and enter the raw REPL if not already done (idempotent)."""
        if self._transport is not None:
            return
        if self.virtual is not None and not self.virtual.alive:
            self.virtual.start()
            self.port = self.virtual.port
        try:
            _probe_port(self.port)
        except DeviceNotFoundError:
            if not getattr(self, "_was_connected", False):
                raise
            # It answered here before: the port went away (unplugged, reset, or the virtual
            # device's process killed but not yet reaped): a lost link, not a wrong port.
            raise DeviceDisconnectedError(
                f"lost the device at {self.port}: its port is gone (unplugged, reset or "
                "killed). Reconnect it and run the same call again: deploys only re-send "
                "what changed.") from None
        from mpremote.transport import TransportError
        if self.port.startswith(_BROWSER):
            from .webserial.transport import BrowserTransport as SerialTransport
        else:
            from mpremote.transport_serial import SerialTransport
        try:
            # A read timeout, so that a board that stops answering fails the call instead of
            # blocking it forever (mpremote's own waits are bounded separately).
            transport = SerialTransport(self.port, baudrate=self.baudrate, timeout=5)
        except TransportError:
            raise DeviceNotFoundError(f"cannot open {self.port}") from None
        try:
            # The unix port exits on Ctrl-D instead of soft-rebooting: never soft-reset it.
            transport.enter_raw_repl(soft_reset=False)
        except Exception as e:
            transport.close()
            raise DeviceNotFoundError(
                f"{self.port} did not answer as a MicroPython REPL ({e}). Is MicroPython "
                "running on it, and no program blocking the REPL?") from None
        self._transport = transport
        self._info = None
        self.closed = False
        self._was_connected = True

    @_locked
    def close(self) -> None:
        """Leave the raw REPL and close the port (the virtual device is closed too)."""
        self.closed = True
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.exit_raw_repl()
            with contextlib.suppress(Exception):
                self._transport.close()
            self._transport = None
        if self.virtual is not None:
            self.virtual.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @_locked
    def reset(self) -> None:
        """Restart MicroPython (soft reset on boards and emulated boards, which keeps their
        files; restart of the virtual device, or of an emulated board deaf to Ctrl-D)."""
        if getattr(self.virtual, "soft_reset", False):
            try:
                self.ensure_connected()
                with self._translate("soft reset"):
                    self._transport.enter_raw_repl(soft_reset=True)
                self._info = None
                return
            except DeviceError:
                # Hung (Ctrl-C cannot stop code there): restarted below, which clears its RAM
                # filesystem and with it every model deployed.
                self.deployments.clear()
                self.deployed = None
        if self.virtual is not None:
            self._drop_transport()
            self.virtual.start()
            self.port = self.virtual.port
            self.ensure_connected()
            return
        self.ensure_connected()
        with self._translate("soft reset"):
            self._transport.enter_raw_repl(soft_reset=True)
        self._info = None

    def _drop_transport(self) -> None:
        self._streaming = False
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
        self._transport = None

    # -- primitives ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _translate(self, what: str, timeout_s: float = 10.0):
        from mpremote.transport import TransportError, TransportExecError
        try:
            yield
        except TransportExecError as e:
            raise _device_exception(e.error_output, what) from None
        except DeviceError:
            raise
        except (TransportError, OSError) as e:  # pyserial's SerialException is an OSError
            # mpremote's fs_* helpers turn the device's OSError into a host one
            # (FileNotFoundError for ENOENT...), raised while handling the TransportExecError
            # that carries the device traceback: an error on the device, not a lost link.
            if isinstance(e, OSError) and isinstance(e.__context__, TransportExecError):
                raise _device_exception(e.__context__.error_output, what) from None
            # mpremote's exec_raw says "timeout waiting for ... EOF reception" when the device
            # stayed silent for timeout_s: it is alive but busy (a loop, a slow board), not
            # gone. Left so, every later call would wait and fail too: bring it back now.
            if isinstance(e, TransportError) and str(e).startswith("timeout waiting for"):
                done = self._recover()
                raise DeviceTimeoutError(
                    f"the device did not finish {what} within {timeout_s:g} s: it is still "
                    f"running or hung. {done}") from None
            self._drop_transport()
            raise DeviceDisconnectedError(
                f"lost the device at {self.port} during {what} ({type(e).__name__}: {e}). "
                "Reconnect it and run the same call again: deploys only re-send what "
                "changed.") from None

    def _recover(self) -> str:
        """After a call timed out: stop what runs on the device and get its raw REPL back,
        so that the next call works. Returns what was done, for the error message.

        Ctrl-C first (the unix port takes SIGINT instead of the byte); native code never
        checks for it, so if the REPL does not answer, a virtual or emulated device is
        restarted and a board soft-reset (Ctrl-D); a board deaf to both needs its button."""
        import io
        quiet = contextlib.redirect_stdout(io.StringIO())  # mpremote prints what it got
        interrupt = getattr(self.virtual, "interrupt", None)
        if self._transport is not None:
            try:
                if interrupt is not None:
                    interrupt()
                with quiet:
                    self._transport.enter_raw_repl(soft_reset=False, timeout_overall=5)
                return ("Interrupted it (Ctrl-C); it is ready again and what was loaded "
                        "is still loaded.")
            except Exception:
                pass
        # soft_reset: an emulated board, whose Ctrl-D keeps its RAM filesystem and whose
        # restart loses it.
        soft = getattr(self.virtual, "soft_reset", False)
        if self._transport is not None and (self.virtual is None or soft):
            try:
                with quiet:
                    self._transport.enter_raw_repl(soft_reset=True, timeout_overall=5)
                self._info = None
                return ("Ctrl-C did not stop it: soft-reset it (Ctrl-D); models deployed "
                        "before are loaded again on their next use.")
            except Exception:
                pass
        if self.virtual is not None:
            self._drop_transport()
            try:
                self.virtual.start()
                self.port = self.virtual.port
                self.ensure_connected()
            except Exception as e:
                return (f"Restarting it failed ({type(e).__name__}: {e}); connect again "
                        "with eml.connect().")
            if soft:
                self.deployments.clear()
                self.deployed = None
                return ("Ctrl-C and Ctrl-D did not stop it: restarted it, which cleared its "
                        "files; deploy again.")
            return ("Ctrl-C did not stop it: restarted it; models deployed before are "
                    "loaded again on their next use.")
        self._drop_transport()
        return ("It answers neither Ctrl-C nor Ctrl-D: press its reset button (or unplug "
                "and plug it in), then run the same call again.")

    @_locked
    def exec(self, code: str, timeout_s: float = 10.0, what: str = "exec") -> str:
        """Run code on the device; returns what it printed. ``what`` names the job in
        errors ("the device did not finish <what> within <timeout_s> s")."""
        self.ensure_connected()
        # An emulated board's clock runs slower than the host's (qemu emulates each instruction):
        # waits sized from its own device time are stretched by its backend's timeout_scale.
        timeout_s = timeout_s * getattr(self.virtual, "timeout_scale", 1.0)
        with self._translate(what, timeout_s):
            out, err = self._transport.exec_raw(code, timeout=timeout_s)
            if err:
                from mpremote.transport import TransportExecError
                raise TransportExecError(out, err.decode(errors="replace"))
            if self.virtual is not None and not self.virtual.alive:
                raise OSError("the virtual device process exited")
            return out.decode(errors="replace")

    @_locked
    def exec_streaming(self, code: str, data_consumer, *, idle_timeout_s: float = 10.0,
                       runs_for_s: float | None = None, what: str = "exec") -> None:
        """Run code on the device and hand what it prints to ``data_consumer`` as it arrives,
        for programs whose output is too long or too slow for :meth:`exec`.

        Parameters
        ----------
        code : str
            Program to run in the device's raw REPL (its globals are the REPL's).
        data_consumer : callable
            Called with each byte printed (a ``bytes`` of length 1), then with ``b"\\x04"``
            when the program returns. If it raises, the program is stopped
            (:meth:`interrupt`) and the exception propagates.
        idle_timeout_s : float
            Longest silence between two bytes, not a bound on the whole run (stretched by an
            emulated board's timeout_scale, as for :meth:`exec`).
        runs_for_s : float, optional
            How long the program runs if not stopped (a paced stream), which tells
            :meth:`interrupt` whether the virtual device can still be signalled.
        what : str
            The job, named in errors.

        Raises
        ------
        DeviceRuntimeError
            The program raised; the message carries the device traceback
            (DeviceMemoryError for a MemoryError).
        DeviceTimeoutError
            The device was silent for ``idle_timeout_s``; it was interrupted or restarted
            (the message says which) and is ready again.
        DeviceDisconnectedError
            The link was lost; the next call reconnects.

        Examples
        --------
        >>> lines = []
        >>> dev.exec_streaming("for i in range(3):\\n print(i)",
        ...                    lambda b: lines.append(b))  # doctest: +SKIP
        >>> b"".join(lines).split()  # doctest: +SKIP
        [b'0', b'1', b'2', b'\\x04']
        """
        self.ensure_connected()
        idle_timeout_s = idle_timeout_s * getattr(self.virtual, "timeout_scale", 1.0)
        ends_at = None if runs_for_s is None else time.monotonic() + runs_for_s

        def consume(byte: bytes) -> None:
            if byte == b"\x04":  # the program returned: nothing left to interrupt
                self._streaming = False
            data_consumer(byte)

        with self._translate(what, idle_timeout_s):
            transport = self._transport
            transport.exec_raw_no_follow(code)
            self._streaming, self._stream_ends_at = True, ends_at
            try:
                _, err = transport.follow(idle_timeout_s, consume)
            except BaseException as e:
                # pyserial's OSError is a dead link, with no program left to stop
                if not isinstance(e, OSError) or isinstance(e, DeviceError):
                    self.interrupt()
                raise
            finally:
                self._streaming = False
            if err:
                from mpremote.transport import TransportExecError
                raise TransportExecError(b"", err.decode(errors="replace"))
            if self.virtual is not None and not self.virtual.alive:
                raise OSError("the virtual device process exited")

    @_locked
    def interrupt(self, timeout_s: float = 5.0) -> bool:
        """Stop the program :meth:`exec_streaming` runs, if it still runs, and read its
        output up to the raw REPL prompt, so that the next call works. exec_streaming does
        this itself when its consumer raises or the host is interrupted.

        Boards take Ctrl-C; the virtual device (the unix port) takes a SIGINT instead, which
        ends its process if it arrives after the program returned: so it is signalled only
        while more than a second of a ``runs_for_s`` run remains, and otherwise left to
        finish. Native code never checks for Ctrl-C: a device that does not answer within
        ``timeout_s`` is dropped, and the next call reconnects (restarting the virtual
        device).

        Parameters
        ----------
        timeout_s : float
            How long to wait for the prompt, after the end of the run when it is left to
            finish.

        Returns
        -------
        bool
            True if the device is ready again (or nothing was running); False if it did not
            answer, and the next call reconnects.
        """
        if not self._streaming or self._transport is None:
            return True
        self._streaming = False
        left_s = None if self._stream_ends_at is None else \
            self._stream_ends_at - time.monotonic()
        try:
            signal = getattr(self.virtual, "interrupt", None)
            if signal is None:  # a board, or an emulated board: both take the Ctrl-C byte
                self._transport.serial.write(b"\x03")
            elif self.virtual.alive and (left_s is None or left_s > 1.0):
                signal()
            self._transport.follow(max(timeout_s, (left_s or 0.0) + timeout_s),
                                   lambda b: None)
        except Exception:
            self._drop_transport()
            return False
        return True

    def eval(self, expression: str, timeout_s: float = 10.0, what: str = "exec"):
        """Evaluate an expression on the device and return its value (via repr/literal_eval)."""
        import ast
        text = self.exec(f"print(repr({expression}))", timeout_s=timeout_s, what=what).strip()
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise DeviceError(f"device returned an unreadable value for {expression!r}: "
                              f"{text[:200]!r}") from None

    def _static_info(self) -> dict:
        """platform, version, machine, sys_mpy, target: read once per connection."""
        self.ensure_connected()
        if self._info is None:
            sys_mpy, platform, version, machine = self.eval(
                "(lambda s: (getattr(s.implementation, '_mpy', 0) or "
                "getattr(s.implementation, 'mpy', 0), s.platform, s.version, "
                "getattr(s.implementation, '_machine', '')))(__import__('sys'))")
            self._info = {"platform": platform, "version": version, "machine": machine,
                          "sys_mpy": sys_mpy, "target": Target.from_sys_mpy(sys_mpy)}
        return self._info

    @property
    def info(self) -> dict:
        """platform, version, mpy, target, and heap free/used bytes after a collection (read
        now, one round trip) as the device reports them."""
        static = self._static_info()
        free, used = self.eval("(lambda g: (g.collect(), g.mem_free(), g.mem_alloc()))"
                               "(__import__('gc'))[1:]")
        return dict(static, heap_free_bytes=free, heap_used_bytes=used)

    @property
    def target(self) -> Target:
        """mpy version and native arch (cached; no round trip once connected)."""
        return self._static_info()["target"]

    # -- files -----------------------------------------------------------------------------
    def file_sha256(self, path: str) -> bytes | None:
        """SHA-256 of a file on the device; None if it does not exist or the port has no
        hashlib.sha256 (then files are always sent)."""
        return self.file_hashes([path]).get(path, (0, None))[1]

    @_locked
    def write_file(self, path: str, data: bytes, skip_unchanged: bool = True) -> bool:
        """Write a file atomically (temp file + rename). Returns False if it was unchanged.

        A link lost mid-write leaves the old file intact and a stale temp file, which the next
        write replaces. Where the filesystem cannot rename over an existing file (FAT), the
        old file is removed just before the rename.
        """
        if skip_unchanged and self.file_sha256(path) == hashlib.sha256(data).digest():
            return False
        tmp = path + ".part"
        self.ensure_connected()
        rename = (f"import os\ntry:\n os.rename({tmp!r}, {path!r})\nexcept OSError:\n"
                  f" try:\n  os.remove({path!r})\n except OSError:\n  pass\n"
                  f" os.rename({tmp!r}, {path!r})\n")
        with self._translate(f"writing {path}"):
            if getattr(self._transport, "writes_then", False):   # one round trip less
                self._transport.fs_writefile(tmp, data, chunk_size=_CHUNK_BYTES, then=rename)
                return True
            self._transport.fs_writefile(tmp, data, chunk_size=_CHUNK_BYTES)
        self.exec(rename)
        return True

    def file_hashes(self, paths) -> dict:
        """{path: (size_bytes, SHA-256 or None)} of those of ``paths`` that exist on the
        device, in one round trip (the digest is None where the port has no
        hashlib.sha256)."""
        # Not mpremote's fs_hashfile: it takes three round trips per file, leaves its hasher
        # and buffer in the device's globals (heap the budget then misses), and without
        # hashlib reads the whole file back, slower than sending it again.
        code = ("import os\ntry:\n import hashlib\n hashlib.sha256\nexcept (ImportError, "
                "AttributeError):\n hashlib = None\nb = bytearray(512)\nr = {}\n"
                f"for p in {list(paths)!r}:\n try:\n  n = os.stat(p)[6]\n"
                " except OSError:\n  continue\n d = None\n if hashlib:\n"
                "  h = hashlib.sha256()\n  with open(p, 'rb') as f:\n   while True:\n"
                "    k = f.readinto(b)\n    if not k:\n     break\n    h.update(b[:k])\n"
                "  d = h.digest()\n r[p] = (n, d)\nprint(repr(r))")
        import ast
        return ast.literal_eval(self.exec(code, timeout_s=30, what="hashing files").strip())

    def fs_free_bytes(self) -> int | None:
        """Free bytes of the filesystem the device's files go to (its working directory);
        None where the port has no os.statvfs."""
        import ast
        free = ast.literal_eval(self.exec(
            "import os\ntry:\n s = os.statvfs(os.getcwd())\n print(s[0] * s[4])\n"
            "except (AttributeError, OSError):\n print(None)").strip())
        return None if free is None else int(free)

    @_locked
    def put_data(self, path: str, data: bytes) -> None:
        """Write a scratch file (rows to run, and the like) as it is: no hash, no rename."""
        self.ensure_connected()
        with self._translate(f"writing {path}"):
            self._transport.fs_writefile(path, data, chunk_size=_CHUNK_BYTES)

    def remove_quietly(self, paths) -> None:
        """Remove those of ``paths`` that exist (one round trip)."""
        # Not fs_rmfile per path: a round trip each, and an error for each missing one.
        self.exec(f"import os\nfor p in {list(paths)!r}:\n try:\n  os.remove(p)\n"
                  " except OSError:\n  pass")

    @_locked
    def read_file(self, path: str) -> bytes:
        self.ensure_connected()
        with self._translate(f"reading {path}"):
            return self._transport.fs_readfile(path, chunk_size=_CHUNK_BYTES)

    def listdir(self, path: str = "") -> list:
        """(name, size_bytes) of the files in a device directory."""
        # Not mpremote's fs_listdir: it takes sizes from os.ilistdir, whose entries have none
        # on the unix port (the virtual device): every file would read 0 bytes.
        return self.eval(f"[(n, t == 0x8000 and __import__('os').stat({path!r} + '/' + n "
                         f"if {path!r} else n)[6] or 0) for n, t, *_ in "
                         f"__import__('os').ilistdir({path!r})]")

    @_locked
    def remove(self, path: str) -> None:
        """Remove a file from the device; DeviceRuntimeError (ENOENT) if it is not there."""
        self.ensure_connected()
        with self._translate(f"removing {path}"):
            self._transport.fs_rmfile(path)

    # -- models ----------------------------------------------------------------------------
    @_locked
    def deploy(self, model, X=None, *, form: str = "auto", name: str = "model",
               verify: bool = True, repeats: int = 200):
        """Build, push and verify a model on this device (see emlearn_lab.device.deploy)."""
        from .deploy import deploy
        report = deploy(self, model, X, form=form, name=name, verify=verify, repeats=repeats)
        # An emulated board's clock counts instructions: the report says so, in instructions.
        report.instructions_per_us = getattr(self.virtual, "instructions_per_us", None)
        return report

    @_locked
    def check_features(self, fx, X, *, name: str = "features", repeats: int = 20):
        """Run a fitted feature extractor on windows X on the device and compare with the
        host, value by value (see emlearn_lab.device.features.check_features)."""
        from .features import check_features
        return check_features(self, fx, X, name=name, repeats=repeats)

    @_locked
    def predict(self, X, name: str | None = None):
        """Predictions computed on the device for rows X (windows for a pipeline), with the
        model deployed under ``name`` (default: the last one deployed)."""
        from .deploy import predict_on_device
        return predict_on_device(self, X, name=name)

    @_locked
    def learn(self, model, x, y) -> int:
        """Teach a deployed nearest-neighbour model (a KNNModel, or the estimator deployed)
        examples on the device: rows ``x`` (one row or several) with labels or values ``y``,
        checked on the host first. The device appends them to its store file (atomically:
        a power cut keeps the old store or the new one), then the host model's mirror
        (``learned_X``, ``learned_y``), so ``model.predict`` equals the device. At most
        ``model.capacity`` examples are learned (set it before deploying): more are refused,
        none is dropped. Returns how many examples the device has learned (see
        emlearn_lab.neighbors.learning)."""
        from ..neighbors.learning import learn
        return learn(self, model, x, y)

    @_locked
    def pull_examples(self, model) -> tuple:
        """(X, y) of the examples the device's store holds, for when the device learned on its
        own (an app): the model's mirror becomes them. Deploying writes the mirror to the
        device, so pull first to keep what the device learned (see
        emlearn_lab.neighbors.learning.pull_examples)."""
        from ..neighbors.learning import pull_examples
        return pull_examples(self, model)

    # -- sensors ---------------------------------------------------------------------------
    @_locked
    def playback(self, recording, **kw) -> bool:
        """Make a Recording the device's playback sensor, the one ``record()`` reads by
        default (see emlearn_lab.device.record.playback). float64 samples are sent as
        float32. Returns False if the device already had this exact file."""
        from .record import playback
        return playback(self, recording, **kw)

    @_locked
    def record(self, seconds: float, **kw):
        """Record ``seconds`` from a sensor on the device (default: the playback sensor) into
        a Recording, streamed as it is sampled; keywords ``sensor``, ``block_frames``,
        ``progress`` (see emlearn_lab.device.record.record)."""
        from .record import record
        return record(self, seconds, **kw)

    # -- the standalone app -----------------------------------------------------------------
    @_locked
    def install(self, app, X=None, *, autostart: bool = True) -> dict:
        """Install an eml.DeviceApp so that the board runs it on its own, atomically (see
        emlearn_lab.app.install.install)."""
        from ..app.install import install
        return install(self, app, X, autostart=autostart)

    @_locked
    def uninstall(self) -> bool:
        """Remove the installed app (main.py launcher, configuration, its model's files)."""
        from ..app.install import uninstall
        return uninstall(self)

    @_locked
    def app_output(self, seconds: float | None = None, *, windows: int | None = None,
                   realtime: bool | None = None):
        """Run the installed app for ``seconds`` of signal (or ``windows``) as the board
        starts it at boot, and return its events, busy time and RAM (an AppOutput; see
        emlearn_lab.app.install.app_output)."""
        from ..app.install import app_output
        return app_output(self, seconds, windows=windows, realtime=realtime)

    @_locked
    def check_app(self, app, recording):
        """Play a recording through the installed app and compare its events with
        ``app.simulate(recording)`` (an AppCheck; see emlearn_lab.app.check.check_app)."""
        from ..app.check import check_app
        return check_app(self, app, recording)

    def __repr__(self) -> str:
        kind = getattr(self.virtual, "kind", "virtual") if self.virtual is not None else \
            "browser" if self.port.startswith(_BROWSER) else "serial"
        state = "connected" if self._transport is not None else "disconnected"
        return f"Device({kind}, port={self.port!r}, {state})"


def _probe_port(port: str) -> None:
    """Open and close the port once to tell a missing port from a busy one (mpremote reports
    both as "failed to access"). A browser port is asked whether the page holds it open; other
    pyserial URLs (socket://, rfc2217://) are left to mpremote."""
    if port.startswith(_BROWSER):
        from .webserial import register
        from .webserial.link import get_link
        register()
        link = get_link(port[len(_BROWSER):])
        if link is None or link.state != "open":
            raise DeviceNotFoundError(link.why_not_open() if link is not None else
                                      f"no browser port {port}: run eml.connect_browser()")
        return
    if "://" in port:
        return
    import serial
    try:
        serial.Serial(port, exclusive=True).close()
    except serial.SerialException as e:
        text = str(e).lower()
        if "lock" in text or "busy" in text or getattr(e, "errno", None) == 16:
            raise DeviceBusyError(
                f"{port} is in use by another program (a serial monitor, Thonny, another "
                "notebook or Device?); close it and connect again") from None
        raise DeviceNotFoundError(
            f"no MicroPython device at {port}: check the cable and the port name (mpremote "
            "devs lists ports), or use eml.connect('virtual')") from None


def _device_exception(output: str, what: str) -> DeviceError:
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else "unknown error"
    if "MemoryError" in last:
        m = re.search(r"allocating (\d+) bytes", output)
        need = f" (an allocation of {m.group(1)} bytes failed)" if m else ""
        return DeviceMemoryError(f"the device ran out of heap during {what}{need}: {last}")
    return DeviceRuntimeError(f"error on the device during {what}: {last}\n{output.strip()}")
