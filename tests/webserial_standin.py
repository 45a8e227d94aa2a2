"""Stand-ins for testing the Web Serial bridge without hardware: a fake ``navigator.serial`` for
chromium, a WebSocket server that carries its port's bytes to a pty, and a latency proxy.

In a browser test the page gets :func:`fake_serial_js` as an init script. Its one port, once
granted by a real click on ``requestPort()`` and opened, is a binary WebSocket to a
:class:`PtyBridge`, which relays the bytes to a serial pty such as the virtual device's
(``emlearn_lab.device.virtual.VirtualDevice().port``). ``PtyBridge.unplug()`` closes the link
from the server side; the page then sees what Chrome shows on device loss (the reader rejects
with a ``NetworkError`` DOMException, a ``disconnect`` event). :class:`LatencyProxy` sits between
chromium and a server (JupyterLab, or the bridge) and delays every chunk of TCP data in both
directions, for benchmarks over a slow network.

The stand-in is not Chrome's implementation: no chooser (one port, chosen at once; set
``window.__serialStandin.chooser = "cancel"`` to simulate the user dismissing it), no receive
flow control (bytes from the device queue in the page without limit), signals are recorded,
not sent to the device, and a port lost by unplugging comes back only when the test calls
``window.__serialStandin.connect()`` (after ``PtyBridge.replug()``).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import socket
import termios
import threading
import tty

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web
import tornado.websocket

USB_VENDOR_ID = 0xF055   # the ids getInfo() reports (MicroPython's pid.codes allocation)
USB_PRODUCT_ID = 0x9800
CHUNK_BYTES = 4096       # largest WebSocket message the bridge sends from the pty
_START_TIMEOUT_S = 10.0

_FAKE_SERIAL_JS = r"""
(() => {
  if (window.__serialStandin) return;          // once per page (realm)
  const INFO = { usbVendorId: __VENDOR__, usbProductId: __PRODUCT__ };
  const state = {
    url: __URL__, requestPortCalls: 0, signals: [], bytesIn: 0, bytesOut: 0, opens: 0,
    disconnects: 0, openOptions: null, chooser: "accept", port: null,
    connect() { port._plugIn(); },
  };
  window.__serialStandin = state;
  const dom = (name, message) => new DOMException(message, name);
  const lostError = () => dom("NetworkError", "The device has been lost.");
  let granted = false;

  // on<type> attributes, like those of real event targets: the handler runs in the order
  // of its first setting among the listeners; set to null, it is removed.
  function eventAttribute(target, type) {
    let handler = null;
    const listener = (event) => { if (handler) handler.call(target, event); };
    Object.defineProperty(target, "on" + type, {
      get() { return handler; },
      set(fn) {
        const next = typeof fn === "function" ? fn : null;
        if (next && !handler) target.addEventListener(type, listener);
        if (!next && handler) target.removeEventListener(type, listener);
        handler = next;
      },
      configurable: true, enumerable: true,
    });
  }

  // Events on a port bubble to navigator.serial with the port as their target.
  function fire(type) {
    port.dispatchEvent(new Event(type, { bubbles: true }));
    const event = new Event(type, { bubbles: true });
    Object.defineProperty(event, "target", { value: port });
    serial.dispatchEvent(event);
  }

  function copyBytes(chunk) {
    if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk.slice(0));
    if (ArrayBuffer.isView(chunk)) {
      return new Uint8Array(chunk.buffer.slice(chunk.byteOffset,
                                               chunk.byteOffset + chunk.byteLength));
    }
    throw new TypeError("Failed to execute 'write' on 'UnderlyingSinkBase': The provided " +
                        "value is not of type '(ArrayBuffer or ArrayBufferView)'.");
  }

  class SerialPort extends EventTarget {
    #ws = null;
    #state = "closed";          // closed | opening | opened | closing
    #fatal = false;             // the device was lost while open: streams gone until close()
    #connected = true;
    #bufferSize = 255;
    #readable = null;
    #readController = null;
    #writable = null;
    #writeController = null;
    #pending = [];              // bytes that arrived while no readable stream existed
    #outputSignals = { dataTerminalReady: false, requestToSend: false, break: false };

    constructor() {
      super();
      eventAttribute(this, "connect");
      eventAttribute(this, "disconnect");
    }

    get connected() { return this.#connected; }

    getInfo() { return { ...INFO }; }

    async open(options) {
      if (!options || typeof options !== "object" || options.baudRate === undefined) {
        throw new TypeError("Failed to execute 'open' on 'SerialPort': required member " +
                            "baudRate is undefined.");
      }
      if (!(Number(options.baudRate) > 0)) {
        throw new TypeError("Failed to execute 'open' on 'SerialPort': Requested baud " +
                            "rate must be greater than zero.");
      }
      const bufferSize = options.bufferSize === undefined ? 255 : Number(options.bufferSize);
      if (!(bufferSize > 0) || bufferSize > 16 * 1024 * 1024) {
        throw new TypeError("Failed to execute 'open' on 'SerialPort': Requested buffer " +
                            "size out of range.");
      }
      if (this.#state !== "closed") {
        throw dom("InvalidStateError", "Failed to execute 'open' on 'SerialPort': The port " +
                  "is already open.");
      }
      if (!granted || !this.#connected) {
        throw dom("NetworkError", "Failed to execute 'open' on 'SerialPort': Failed to open " +
                  "serial port.");
      }
      this.#state = "opening";
      const ws = new WebSocket(state.url);
      ws.binaryType = "arraybuffer";
      try {
        await new Promise((resolve, reject) => {
          ws.onopen = resolve;
          ws.onclose = () => reject(dom("NetworkError", "Failed to execute 'open' on " +
                                        "'SerialPort': Failed to open serial port."));
        });
      } catch (err) {
        this.#state = "closed";
        throw err;
      }
      this.#ws = ws;
      this.#state = "opened";
      this.#fatal = false;
      this.#pending = [];
      this.#bufferSize = bufferSize;
      state.opens += 1;
      state.openOptions = { ...options };
      ws.onmessage = (event) => this.#receive(new Uint8Array(event.data));
      ws.onclose = () => { if (this.#ws === ws) this.#lost(); };
    }

    get readable() {
      if (this.#readable) return this.#readable;
      if (this.#state !== "opened" || this.#fatal) return null;
      let controller;
      const stream = new ReadableStream({
        type: "bytes",
        start: (c) => { controller = c; },
        cancel: () => {                     // reader.cancel(): the next get makes a new one
          if (this.#readable === stream) { this.#readable = null; this.#readController = null; }
          this.#pending = [];
        },
      }, { highWaterMark: this.#bufferSize });
      this.#readable = stream;
      this.#readController = controller;
      for (const bytes of this.#pending) controller.enqueue(bytes);
      this.#pending = [];
      return stream;
    }

    get writable() {
      if (this.#writable) return this.#writable;
      if (this.#state !== "opened" || this.#fatal) return null;
      const stream = new WritableStream({
        start: (c) => { this.#writeController = c; },
        write: (chunk) => this.#send(chunk).catch((err) => {
          // A failed write errors this stream; the next get makes a new one (fatal: none).
          if (this.#writable === stream) { this.#writable = null; this.#writeController = null; }
          throw err;
        }),
        close: () => { if (this.#writable === stream) this.#writable = null; },
        abort: () => { if (this.#writable === stream) this.#writable = null; },
      }, { highWaterMark: this.#bufferSize,
           size: (c) => (c && typeof c.byteLength === "number" ? c.byteLength : 1) });
      this.#writable = stream;
      return stream;
    }

    async setSignals(signals = {}) {
      this.#checkUsable("setSignals");
      const set = {};
      for (const key of ["dataTerminalReady", "requestToSend", "break"]) {
        if (signals[key] !== undefined) set[key] = Boolean(signals[key]);
      }
      if (Object.keys(set).length === 0) {
        throw new TypeError("Failed to execute 'setSignals' on 'SerialPort': Signals " +
                            "dictionary is empty.");
      }
      state.signals.push(set);
      Object.assign(this.#outputSignals, set);
    }

    async getSignals() {
      this.#checkUsable("getSignals");
      // A USB CDC-ACM board such as MicroPython's reports none of the input signals.
      return { dataCarrierDetect: false, clearToSend: false, ringIndicator: false,
               dataSetReady: false };
    }

    async close() {
      if (this.#state !== "opened") {
        throw dom("InvalidStateError", "Failed to execute 'close' on 'SerialPort': The " +
                  "port is already closed.");
      }
      const readable = this.#readable, writable = this.#writable;
      if (readable && readable.locked) {
        throw new TypeError("Failed to execute 'close' on 'SerialPort': Cannot cancel a " +
                            "locked stream");
      }
      if (writable && writable.locked) {
        throw new TypeError("Failed to execute 'close' on 'SerialPort': Cannot close a " +
                            "locked stream");
      }
      this.#state = "closing";
      await Promise.all([readable ? readable.cancel() : null,
                         writable ? writable.close().catch(() => {}) : null]);
      await this.#closeSocket();
      this.#reset();
    }

    async forget() {
      granted = false;
      if (this.#state === "opened") {
        this.#failStreams(dom("NetworkError", "The port was forgotten."));
        await this.#closeSocket();
      }
      this.#reset();
    }

    // -- internals used by the stand-in ----------------------------------------------------
    _plugIn() {
      if (this.#connected) return;
      this.#connected = true;
      fire("connect");
    }

    #checkUsable(method) {
      if (this.#state !== "opened") {
        throw dom("InvalidStateError", `Failed to execute '${method}' on 'SerialPort': ` +
                  "The port is closed.");
      }
      if (this.#fatal) throw lostError();
    }

    #receive(bytes) {
      state.bytesIn += bytes.byteLength;
      if (this.#readController) this.#readController.enqueue(bytes);
      else this.#pending.push(bytes);
    }

    async #send(chunk) {
      const bytes = copyBytes(chunk);
      const ws = this.#ws;
      if (!ws || ws.readyState !== WebSocket.OPEN || this.#fatal) throw lostError();
      ws.send(bytes);
      state.bytesOut += bytes.byteLength;
      // Resolve once the socket has taken most of it, so that a writer awaiting each write
      // (as with a real port) does not queue without limit.
      while (ws.bufferedAmount > 1024 * 1024 && ws.readyState === WebSocket.OPEN) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      if (ws.readyState !== WebSocket.OPEN) throw lostError();
    }

    #failStreams(err) {
      try { if (this.#readController) this.#readController.error(err); } catch (e) { }
      try { if (this.#writeController) this.#writeController.error(err); } catch (e) { }
      this.#readable = null;
      this.#readController = null;
      this.#writable = null;
      this.#writeController = null;
      this.#pending = [];
    }

    #lost() {                               // the server closed the link: cable pulled
      this.#fatal = true;
      this.#ws = null;
      this.#connected = false;
      this.#failStreams(lostError());
      state.disconnects += 1;
      fire("disconnect");
    }

    #closeSocket() {
      const ws = this.#ws;
      this.#ws = null;                      // not a loss: no disconnect event
      if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
      return new Promise((resolve) => {
        ws.onclose = () => resolve();
        ws.close(1000, "port closed");
      });
    }

    #reset() {
      this.#state = "closed";
      this.#fatal = false;
      this.#readable = null;
      this.#readController = null;
      this.#writable = null;
      this.#writeController = null;
      this.#pending = [];
    }
  }

  class Serial extends EventTarget {
    constructor() {
      super();
      eventAttribute(this, "connect");
      eventAttribute(this, "disconnect");
    }

    async requestPort(options = {}) {
      state.requestPortCalls += 1;
      if (!navigator.userActivation || !navigator.userActivation.isActive) {
        throw dom("SecurityError", "Failed to execute 'requestPort' on 'Serial': Must be " +
                  "handling a user gesture to show a permission request.");
      }
      const filters = (options && options.filters) || [];
      for (const f of filters) {
        if (f.usbVendorId === undefined && f.bluetoothServiceClassId === undefined) {
          throw new TypeError("Failed to execute 'requestPort' on 'Serial': A filter must " +
                              "provide a property to filter by.");
        }
        if (f.usbProductId !== undefined && f.usbVendorId === undefined) {
          throw new TypeError("Failed to execute 'requestPort' on 'Serial': A filter " +
                              "containing a usbProductId must also specify a usbVendorId.");
        }
      }
      const matches = filters.length === 0 || filters.some((f) =>
        f.bluetoothServiceClassId === undefined && f.usbVendorId === INFO.usbVendorId &&
        (f.usbProductId === undefined || f.usbProductId === INFO.usbProductId));
      if (!matches || state.chooser === "cancel") {
        throw dom("NotFoundError", "Failed to execute 'requestPort' on 'Serial': No port " +
                  "selected by the user.");
      }
      granted = true;
      return port;
    }

    async getPorts() { return granted ? [port] : []; }
  }

  const port = new SerialPort();
  const serial = new Serial();
  state.port = port;
  Object.defineProperty(Navigator.prototype, "serial", {
    get() { return serial; }, configurable: true, enumerable: true,
  });
})();
"""


def fake_serial_js(ws_url: str) -> str:
    """JavaScript for ``page.add_init_script(script=...)`` that puts a stand-in for the Web
    Serial API on ``Navigator.prototype``. Its one port (USB ids 0xF055:0x9800) carries its
    bytes over a binary WebSocket to ``ws_url`` (a :class:`PtyBridge`'s ``.url``).

    ``requestPort()`` needs transient user activation like the real one: a Playwright click
    gives it, and so does ``page.evaluate`` (Playwright evaluates with a user gesture, for about
    5 s), so a test of the refusal must call it from the page's own script. Test hooks in
    ``window.__serialStandin``: ``requestPortCalls``, ``signals`` (the setSignals calls),
    ``bytesIn``/``bytesOut`` (bytes), ``opens``, ``disconnects``, ``openOptions``, ``port``,
    ``chooser`` ("accept" or "cancel") and ``connect()`` (fire "connect" after an unplug).

    Serve the page from 127.0.0.1: chromium's Local Network Access checks may block the
    WebSocket to 127.0.0.1 from other pages (seen after ``page.goto("about:blank")``:
    net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS, and open() rejects with NetworkError).
    """
    return (_FAKE_SERIAL_JS.replace("__URL__", json.dumps(ws_url))
            .replace("__VENDOR__", str(USB_VENDOR_ID))
            .replace("__PRODUCT__", str(USB_PRODUCT_ID)))


# -- the WebSocket <-> pty bridge ----------------------------------------------------------
class _ClosedOnExit:
    """A context manager that calls close() on exit."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _LoopThread:
    """An asyncio event loop running in a daemon thread, for the servers below."""

    def __init__(self, name: str, setup):
        self.loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future = concurrent.futures.Future()

        def run():
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(setup())
            except BaseException as exc:  # reported to the starting thread
                ready.set_exception(exc)
                self.loop.close()
                return
            ready.set_result(None)
            self.loop.run_forever()
            # Stopped: cancel what is left (connections, their pumps) and close the loop.
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True, name=name)
        self.thread.start()
        ready.result(timeout=_START_TIMEOUT_S)

    def call(self, fn, timeout_s: float = 10.0):
        """Run ``fn()`` (plain function or coroutine function) in the loop; its result."""
        if threading.current_thread() is self.thread:
            raise RuntimeError("call() from the loop's own thread would deadlock")

        async def wrapped():
            result = fn()
            if asyncio.iscoroutine(result):
                result = await result
            return result
        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout_s)


class _SerialSocket(tornado.websocket.WebSocketHandler):
    """One WebSocket connection of a PtyBridge: the pty opened for it, bytes relayed."""

    def initialize(self, bridge: "PtyBridge") -> None:
        self.bridge = bridge
        self.fd = None
        self.out = bytearray()          # bytes from the socket not yet written to the pty

    def check_origin(self, origin: str) -> bool:
        return True                     # a loopback test server: pages on any port use it

    async def get(self, *args, **kwargs) -> None:
        bridge = self.bridge
        if not bridge._plugged:
            bridge.refused += 1
            return self._refuse(503, "unplugged")
        if bridge._active is not None:
            bridge.refused += 1
            return self._refuse(409, "the port is already open")
        try:
            fd = os.open(bridge.pty_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            bridge.refused += 1
            return self._refuse(503, f"cannot open {bridge.pty_path}: {exc.strerror}")
        try:
            tty.setraw(fd)
            if bridge.discard_stale:
                termios.tcflush(fd, termios.TCIFLUSH)
        except termios.error:
            pass                        # not a terminal: relay the bytes anyway
        self.fd = fd
        bridge._active = self
        try:
            await super().get(*args, **kwargs)   # returns when the connection has ended
        finally:
            self._release()

    def _refuse(self, status: int, reason: str) -> None:
        self.set_status(status, reason)
        self.finish(reason)

    def open(self, *args, **kwargs) -> None:
        self.bridge.connections += 1
        self.set_nodelay(True)
        tornado.ioloop.IOLoop.current().add_handler(self.fd, self._on_pty,
                                                   tornado.ioloop.IOLoop.READ)

    def on_message(self, message) -> None:
        if self.fd is None:
            return
        self.out += message.encode() if isinstance(message, str) else message
        self._flush()

    def on_close(self) -> None:
        self._release()

    def _on_pty(self, fd: int, events: int) -> None:
        if events & tornado.ioloop.IOLoop.WRITE:
            self._flush()
        if self.fd is None or not events & (tornado.ioloop.IOLoop.READ |
                                            tornado.ioloop.IOLoop.ERROR):
            return
        try:
            data = os.read(fd, CHUNK_BYTES)
        except BlockingIOError:
            return
        except OSError:                 # EIO: the device side of the pty is gone
            data = b""
        if not data:
            self._device_lost()
            return
        self.bridge.bytes_from_device += len(data)
        try:
            self.write_message(data, binary=True)
        except tornado.websocket.WebSocketClosedError:
            self._release()

    def _flush(self) -> None:
        while self.out and self.fd is not None:
            try:
                n = os.write(self.fd, self.out)
            except BlockingIOError:
                break
            except OSError:
                self._device_lost()
                return
            del self.out[:n]
            self.bridge.bytes_to_device += n
        if self.fd is not None:
            events = tornado.ioloop.IOLoop.READ
            if self.out:
                events |= tornado.ioloop.IOLoop.WRITE
            tornado.ioloop.IOLoop.current().update_handler(self.fd, events)

    def _device_lost(self) -> None:
        self._release()
        self.close(1011, "device lost")

    def _release(self) -> None:
        if self.fd is not None:
            tornado.ioloop.IOLoop.current().remove_handler(self.fd)
            os.close(self.fd)
            self.fd = None
        self.out.clear()
        if self.bridge._active is self:
            self.bridge._active = None


class PtyBridge(_ClosedOnExit):
    """A WebSocket server on 127.0.0.1 (``.url``, ``ws://127.0.0.1:PORT/serial``) that carries
    each connection's bytes to and from the serial pty ``pty_path``, in a thread of its own.

    A connection opens the pty (raw, no controlling terminal; with ``discard_stale`` the
    device's output from before the connection is dropped, as a board's USB serial drops it
    while no host has the port open) and closes it when the connection ends. Device output
    goes out as binary messages of at most 4096 bytes as it arrives; messages (binary, or text
    as UTF-8) are written to the pty fully and in order. One connection at a time: another
    is refused with HTTP 409, and any while unplugged with 503 (the browser's WebSocket then
    fails to open). If the device side goes away the connection is closed (code 1011).

    Counters: ``bytes_to_device``, ``bytes_from_device`` (bytes), ``connections`` (accepted),
    ``refused``. Use as a context manager or call :meth:`close`.
    """

    def __init__(self, pty_path, discard_stale: bool = True):
        self.pty_path = str(pty_path)
        self.discard_stale = discard_stale
        self.bytes_to_device = 0
        self.bytes_from_device = 0
        self.connections = 0
        self.refused = 0
        self._plugged = True
        self._active: _SerialSocket | None = None
        self._closed = False
        self._server = None
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        self.port = sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/serial"

        async def setup():
            app = tornado.web.Application([(r"/serial", _SerialSocket, {"bridge": self})],
                                          log_function=lambda handler: None)  # no access log
            self._server = tornado.httpserver.HTTPServer(app)
            self._server.add_sockets(sockets)
        self._thread = _LoopThread(f"pty-bridge-{self.port}", setup)

    @property
    def connected(self) -> bool:
        """Whether a WebSocket connection currently holds the pty."""
        return self._active is not None

    def unplug(self) -> None:
        """Close the current connection from the server side (a cable pulled) and refuse new
        ones until :meth:`replug`."""
        def run():
            self._plugged = False
            active = self._active
            if active is not None:
                active._release()
                active.close(1001, "unplugged")
        self._thread.call(run)

    def replug(self) -> None:
        """Accept connections again after :meth:`unplug`."""
        def run():
            self._plugged = True
        self._thread.call(run)

    def close(self) -> None:
        """Stop the server and end any connection (the pty fd is closed); idempotent."""
        if self._closed:
            return
        self._closed = True

        def run():
            self._server.stop()
            active = self._active
            if active is not None:
                active._release()
                active.close(1001, "bridge closed")
        try:
            self._thread.call(run)
        finally:
            self._thread.stop()

    def __repr__(self) -> str:
        return (f"PtyBridge({self.pty_path!r}, url={self.url!r}, "
                f"{'plugged' if self._plugged else 'unplugged'}, "
                f"{'connected' if self.connected else 'idle'})")


# -- network latency -------------------------------------------------------------------------
class LatencyProxy(_ClosedOnExit):
    """A TCP proxy on 127.0.0.1 (``.port``) to 127.0.0.1:``target_port`` that delivers every
    chunk ``one_way_ms`` milliseconds after it arrived, in each direction and in order, as a
    network link with that latency and no bandwidth limit would; for HTTP and WebSockets
    (e.g. between chromium and JupyterLab). Runs in a thread of its own with an asyncio loop.
    Half-closes are passed on (after the same delay). Use as a context manager or call
    :meth:`close`. ``connections`` counts the accepted connections.
    """

    def __init__(self, target_port: int, one_way_ms: float):
        if one_way_ms < 0:
            raise ValueError(f"one_way_ms must be >= 0, got {one_way_ms!r}")
        self.target_port = int(target_port)
        self.one_way_ms = float(one_way_ms)
        self.connections = 0
        self._tasks: set = set()
        self._closed = False
        self._server = None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.port = sock.getsockname()[1]

        async def setup():
            self._server = await asyncio.start_server(self._handle, sock=sock)
        self._thread = _LoopThread(f"latency-proxy-{self.port}", setup)

    async def _handle(self, client_r, client_w) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        self.connections += 1
        writers = [client_w]
        try:
            try:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                return
            writers.append(up_w)
            await asyncio.gather(self._pump(client_r, up_w, writers),
                                 self._pump(up_r, client_w, writers))
        except asyncio.CancelledError:
            pass                         # close() dropped it: end quietly
        finally:
            for w in writers:
                w.close()
            self._tasks.discard(task)

    async def _pump(self, reader, writer, writers) -> None:
        """Copy reader to writer, each chunk (and the end) one_way_ms after it was read."""
        loop = asyncio.get_running_loop()
        delay_s = self.one_way_ms / 1000.0
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver():
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof() and not writer.transport.is_closing():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        # Its error (a reset while writing) is seen by the reader of the other pump too.
        sender.add_done_callback(lambda t: t.cancelled() or t.exception())
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((loop.time() + delay_s, data))
                if not data:
                    break
            await sender
        except (OSError, asyncio.IncompleteReadError):
            for w in writers:            # a reset on one side: drop the whole connection
                w.transport.abort()
        finally:
            sender.cancel()

    def close(self) -> None:
        """Stop listening and drop every connection; idempotent."""
        if self._closed:
            return
        self._closed = True

        async def run():
            self._server.close()
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self._thread.call(run)
        finally:
            self._thread.stop()

    def __repr__(self) -> str:
        return (f"LatencyProxy(127.0.0.1:{self.port} -> 127.0.0.1:{self.target_port}, "
                f"{self.one_way_ms:g} ms each way)")
