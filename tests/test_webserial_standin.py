"""The test stand-ins for the Web Serial bridge themselves (tests/webserial_standin.py): the pty
bridge reaches the virtual device's raw REPL, the fake navigator.serial in chromium behaves as
a Web Serial client expects (user activation, streams of Uint8Array, unplugging), and the
latency proxy carries bytes intact and in order, later."""
import asyncio
import contextlib
import http.server
import socket
import threading
import time
import urllib.request

import pytest

import browser_harness
from webserial_standin import LatencyProxy, PtyBridge, fake_serial_js

RAW_REPL = b"raw REPL; CTRL-B to exit"
ENTER_RAW = b"\r\x03\r\x01"


@pytest.fixture
def bridge():
    from emlearn_lab.device.virtual import VirtualDevice
    with VirtualDevice() as dev, PtyBridge(dev.port) as b:
        yield b


async def _raw_repl_over_websocket(url: str, timeout_s: float = 10.0):
    """Connect to url, enter the raw REPL; (connection, everything read)."""
    from tornado.websocket import websocket_connect
    conn = await websocket_connect(url)
    conn.write_message(ENTER_RAW, binary=True)
    got = b""
    while RAW_REPL not in got:
        message = await asyncio.wait_for(conn.read_message(), timeout_s)
        assert isinstance(message, bytes) and 0 < len(message) <= 4096
        got += message
    return conn, got


# -- (a) the bridge, from Python ---------------------------------------------------------------
@pytest.mark.device
def test_bridge_reaches_the_raw_repl_and_unplugs(bridge):
    async def scenario():
        conn, _ = await _raw_repl_over_websocket(bridge.url)
        assert bridge.connected and bridge.connections == 1
        assert bridge.bytes_to_device == len(ENTER_RAW) and bridge.bytes_from_device > 0
        bridge.unplug()
        assert await asyncio.wait_for(conn.read_message(), 10) is None   # closed by the server
        assert conn.close_reason == "unplugged"
        conn.close()
        with pytest.raises(Exception, match="503"):
            await _raw_repl_over_websocket(bridge.url)
        bridge.replug()
        conn, _ = await _raw_repl_over_websocket(bridge.url)
        with pytest.raises(Exception, match="409"):                      # one at a time
            await _raw_repl_over_websocket(bridge.url)
        conn.close()
        for _ in range(100):
            if not bridge.connected:
                break
            await asyncio.sleep(0.05)
        assert not bridge.connected                                      # the pty was let go
    asyncio.run(scenario())
    assert bridge.refused == 2
    bridge.close()
    bridge.close()                                                       # idempotent


@pytest.mark.device
def test_bridge_carries_bulk_both_ways_in_order(bridge):
    """50 kB of program into a pty that takes ~4 kB at a time, 200 kB of output back."""
    program = b"x = '" + b"ab" * 25_000 + b"'\nprint(len(x))\nprint('0123456789' * 20000)"

    async def scenario():
        conn, _ = await _raw_repl_over_websocket(bridge.url)
        conn.write_message(program + b"\x04", binary=True)
        got = b""
        while not got.endswith(b"\x04>"):
            message = await asyncio.wait_for(conn.read_message(), 20)
            assert isinstance(message, bytes) and 0 < len(message) <= 4096
            got += message
        conn.close()
        return got
    got = asyncio.run(scenario())
    assert got.replace(b"\r\n", b"\n") == (
        b"OK50000\n" + b"0123456789" * 20000 + b"\n\x04\x04>")
    assert bridge.bytes_to_device == len(ENTER_RAW) + len(program) + 1


# -- (b) the fake navigator.serial in chromium --------------------------------------------------
PAGE = """<!doctype html><meta charset="utf-8"><title>web serial stand-in</title>
<button id="connect">Connect</button>
<script>
window.events = [];
// At load, with no user activation: must be refused as Chrome does.
navigator.serial.requestPort().then(() => { window.noClick = "granted"; },
                                    (e) => { window.noClick = e.name; });
navigator.serial.addEventListener("disconnect",
  (e) => events.push(["serial", e.type, e.target === window.port]));
navigator.serial.onconnect = (e) => events.push(["serial.onconnect", e.type]);

async function readUntil(reader, text) {
  let got = "";
  const decoder = new TextDecoder();
  while (!got.includes(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    if (!(value instanceof Uint8Array)) throw new Error("chunk is not a Uint8Array");
    got += decoder.decode(value);
  }
  return got;
}

async function enterRawRepl(port) {
  const writer = port.writable.getWriter();
  await writer.write(new Uint8Array([13, 3, 13, 1]));
  writer.releaseLock();
  const reader = port.readable.getReader();
  const text = await readUntil(reader, "raw REPL; CTRL-B to exit");
  return { reader, text };
}

document.getElementById("connect").onclick = async () => {
  try {
    const port = await navigator.serial.requestPort({ filters: [{ usbVendorId: 0xF055 }] });
    window.port = port;
    port.addEventListener("disconnect", (e) => events.push(["port", e.type]));
    port.ondisconnect = (e) => events.push(["port.ondisconnect", e.type]);
    await port.open({ baudRate: 115200, bufferSize: 4096 });
    await port.setSignals({ dataTerminalReady: true, requestToSend: false });
    const { reader, text } = await enterRawRepl(port);
    window.reader = reader;
    window.text = text;
  } catch (e) {
    window.clickError = e.name + ": " + e.message;
  }
};
</script>
"""


@contextlib.contextmanager
def _serve_page(html: str):
    """An http server on 127.0.0.1 serving html at /; yields its URL."""
    body = html.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def page_on_bridge(bridge):
    """A chromium page with the stand-in wired to the bridge, loaded; (page, bridge)."""
    browser_harness.require()
    with _serve_page(PAGE) as url, browser_harness.browser() as page:
        page.add_init_script(script=fake_serial_js(bridge.url))
        page.goto(url)
        page.wait_for_function("() => window.noClick !== undefined")
        yield page, bridge


def _click_and_enter_raw_repl(page) -> None:
    page.click("#connect")
    page.wait_for_function("() => window.text !== undefined || window.clickError",
                           timeout=20_000)
    assert page.evaluate("window.clickError") is None
    assert RAW_REPL.decode() in page.evaluate("window.text")


@pytest.mark.browser
@pytest.mark.device
def test_standin_needs_a_click_then_opens_the_virtual_device(page_on_bridge):
    page, bridge = page_on_bridge
    # Called by the page at load, without user activation.
    assert page.evaluate("window.noClick") == "SecurityError"
    assert page.evaluate("navigator.serial.getPorts().then((p) => p.length)") == 0
    _click_and_enter_raw_repl(page)
    state = page.evaluate("({...window.__serialStandin, port: null})")
    assert state["requestPortCalls"] == 2
    assert state["signals"] == [{"dataTerminalReady": True, "requestToSend": False}]
    assert state["bytesOut"] == len(ENTER_RAW) == bridge.bytes_to_device
    assert state["bytesIn"] == bridge.bytes_from_device > len(RAW_REPL)
    assert state["openOptions"] == {"baudRate": 115200, "bufferSize": 4096}
    assert page.evaluate("window.port.getInfo()") == {"usbVendorId": 0xF055,
                                                      "usbProductId": 0x9800}
    assert page.evaluate("navigator.serial.getPorts().then((p) => p.length === 1 && "
                         "p[0] === window.port)")
    assert page.evaluate("window.port.open({baudRate: 115200}).catch((e) => e.name)") == \
        "InvalidStateError"
    # Chrome refuses to close a port whose stream is locked.
    assert page.evaluate("window.port.close().catch((e) => e.name)") == "TypeError"
    # A second request (page.evaluate runs with a user gesture) gives the same port; the
    # chooser dismissed, or no port matching the filters, is a NotFoundError.
    assert page.evaluate("navigator.serial.requestPort().then((p) => p === window.port)")
    assert page.evaluate("navigator.serial.requestPort({filters: [{usbVendorId: 0x2E8A}]})"
                         ".catch((e) => e.name)") == "NotFoundError"
    assert page.evaluate("window.__serialStandin.chooser = 'cancel'; "
                         "navigator.serial.requestPort().catch((e) => e.name)") == \
        "NotFoundError"
    # Closed the way a client does it; the bridge lets go of the pty; it opens again.
    page.evaluate("""async () => {
        await window.reader.cancel();
        window.reader.releaseLock();
        await window.port.close();
    }""")
    assert page.evaluate("window.port.readable === null && window.port.writable === null")
    deadline = time.monotonic() + 10
    while bridge.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not bridge.connected
    text = page.evaluate("""async () => {
        await window.port.open({baudRate: 115200});
        const { reader, text } = await enterRawRepl(window.port);
        reader.releaseLock();
        await window.port.close();
        return text;
    }""")
    assert RAW_REPL.decode() in text
    assert page.evaluate("window.__serialStandin.disconnects") == 0
    assert page.evaluate("window.events") == []


@pytest.mark.browser
@pytest.mark.device
def test_standin_unplugged_fails_reads_and_writes_and_fires_disconnect(page_on_bridge):
    page, bridge = page_on_bridge
    _click_and_enter_raw_repl(page)
    page.evaluate("""() => {
        window.writer = window.port.writable.getWriter();
        // Bytes still in flight from the raw REPL's prompt may complete a read first: read
        // until the unplug ends the stream.
        window.readEnd = (async () => {
            try {
                while (!(await window.reader.read()).done) {}
                return "no error";
            } catch (e) {
                return e.name;
            }
        })();
    }""")
    bridge.unplug()
    assert page.evaluate("window.readEnd") == "NetworkError"
    page.wait_for_function("() => window.events.length >= 3")
    assert page.evaluate("window.events") == [["port", "disconnect"],
                                              ["port.ondisconnect", "disconnect"],
                                              ["serial", "disconnect", True]]
    assert page.evaluate("window.writer.write(new Uint8Array([1])).then(() => 'written', "
                         "(e) => e.name)") == "NetworkError"
    assert page.evaluate("[window.port.readable, window.port.writable, window.port.connected]"
                         ) == [None, None, False]
    # The client closes the lost port; it cannot be opened until it is plugged in again.
    page.evaluate("window.port.close()")
    assert page.evaluate("window.port.open({baudRate: 115200}).catch((e) => e.name)") == \
        "NetworkError"
    bridge.replug()
    page.evaluate("window.__serialStandin.connect()")
    assert page.evaluate("window.events.at(-1)") == ["serial.onconnect", "connect"]
    text = page.evaluate("""async () => {
        await window.port.open({baudRate: 115200});
        return (await enterRawRepl(window.port)).text;
    }""")
    assert RAW_REPL.decode() in text


@pytest.mark.browser
@pytest.mark.device
def test_standin_open_fails_while_the_bridge_is_unplugged(page_on_bridge):
    page, bridge = page_on_bridge
    bridge.unplug()
    page.click("#connect")
    page.wait_for_function("() => window.text !== undefined || window.clickError")
    assert page.evaluate("window.clickError").startswith("NetworkError")
    assert page.evaluate("window.port.readable") is None
    bridge.replug()
    assert page.evaluate("window.port.open({baudRate: 9600}).then(() => 'open')") == "open"


# -- (c) the latency proxy -----------------------------------------------------------------------
@contextlib.contextmanager
def _echo_server():
    """A TCP echo server on 127.0.0.1; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_latency_proxy_echoes_a_megabyte_intact_in_order_and_late():
    one_way_ms = 50
    data = bytes(range(251)) * (1_000_000 // 251 + 1)            # a pattern with no period 2^k
    with _echo_server() as echo_port, LatencyProxy(echo_port, one_way_ms) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port)) as conn:
            start = time.monotonic()
            sender = threading.Thread(target=lambda: (conn.sendall(data),
                                                      conn.shutdown(socket.SHUT_WR)))
            sender.start()
            got = bytearray()
            while chunk := conn.recv(65536):
                got += chunk
            elapsed = time.monotonic() - start
            sender.join()
        assert bytes(got) == data
        assert elapsed >= 2 * one_way_ms / 1000                   # a lower bound only
        assert proxy.connections == 1
    proxy.close()                                                  # idempotent


def test_latency_proxy_carries_http():
    page = "<p>" + "x" * 100_000 + "</p>"
    with _serve_page(page) as url, LatencyProxy(int(url.split(":")[2].strip("/")), 20) as proxy:
        start = time.monotonic()
        for _ in range(2):
            with urllib.request.urlopen(f"http://127.0.0.1:{proxy.port}/", timeout=30) as r:
                assert r.read().decode() == page
        assert time.monotonic() - start >= 2 * 2 * 0.020          # two requests, two ways


@pytest.mark.device
def test_latency_proxy_carries_the_bridge_websocket(bridge):
    one_way_ms = 30
    with LatencyProxy(bridge.port, one_way_ms) as proxy:
        async def scenario():
            start = time.monotonic()
            conn, got = await _raw_repl_over_websocket(
                f"ws://127.0.0.1:{proxy.port}/serial")
            elapsed = time.monotonic() - start
            conn.close()
            return got, elapsed
        got, elapsed = asyncio.run(scenario())
    assert RAW_REPL in got
    # Handshake and the REPL's answer: at least two round trips.
    assert elapsed >= 4 * one_way_ms / 1000
