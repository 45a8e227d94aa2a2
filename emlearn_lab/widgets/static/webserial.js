// Web Serial bridge (anywidget ESM): the page opens the user's board with the browser's Web
// Serial API and carries its bytes to and from the kernel over this widget's comm. The
// kernel's end is emlearn_lab/device/webserial/link.py, which lists the messages.
//
// One session per link name, shared by the model and its views: it holds the port, reads it
// into "data" messages (at most 4 kB each, binary buffers), writes what the kernel sends in
// order, and runs MicroPython's raw-paste exchange for a whole command ("paste"), so that a
// command costs the kernel one round trip however many flow-control windows it spans.

const CHUNK_BYTES = 4096;
const RECOVERABLE = new Set(["BreakError", "FramingError", "ParityError", "BufferOverrunError"]);
// On the page, not in this module: anywidget may load the module once per widget, and a new
// widget (connect_browser run again) must find the port already open.
const sessions = (globalThis.__emlabSerialSessions ??= new Map());

function session(model) {
  const name = model.get("name");
  let s = sessions.get(name);
  if (!s) {
    s = { name, port: null, writer: null, writes: Promise.resolve(), paste: null,
          state: navigator.serial ? "waiting" : "unsupported", detail: "", info: {},
          opens: 0, views: new Set() };
    sessions.set(name, s);
  }
  s.model = model;
  return s;
}

function send(s, content, buffers) {
  s.model.send(content, undefined, buffers || []);
}

function redraw(s) {
  for (const draw of s.views) draw();
}

function bytesOf(view) {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function forward(s, bytes) {
  for (let i = 0; i < bytes.length; i += CHUNK_BYTES) {
    send(s, { kind: "data" }, [bytes.slice(i, i + CHUNK_BYTES)]);
  }
}

// Writes (and signal changes) run one after another, in the order the kernel sent them.
function queue(s, job) {
  s.writes = s.writes.catch(() => {}).then(job);
  return s.writes;
}

function write(s, bytes) {
  const port = s.port;
  return queue(s, async () => {
    if (!s.writer || s.port !== port) throw new DOMException("the port is closed", "NetworkError");
    try {
      await s.writer.write(bytes);
    } catch (e) {
      lost(s, port, e);
      throw e;
    }
  });
}

// Bytes the raw-paste exchange reads while it runs (instead of forwarding them).
class ByteQueue {
  constructor() { this.bytes = []; this.wake = null; this.error = null; }
  push(chunk) { for (const b of chunk) this.bytes.push(b); this.notify(); }
  get length() { return this.bytes.length; }
  fail(error) { this.error = error; this.notify(); }
  notify() { if (this.wake) { const w = this.wake; this.wake = null; w(); } }
  async next() {
    while (!this.bytes.length) {
      if (this.error) throw this.error;
      await new Promise((resolve) => { this.wake = resolve; });
    }
    return this.bytes.shift();
  }
  rest() { const r = Uint8Array.from(this.bytes); this.bytes = []; return r; }
}

// MicroPython's raw paste (docs: "Raw mode and raw-paste mode"), with the kernel's command
// in hand: Ctrl-E A Ctrl-A, the board answers "R\x01" and its window size; write at most a
// window, then wait for a \x01 granting the next; Ctrl-D ends, the board acknowledges it with
// \x04 (a \x04 while writing: the board ended it early). Replies status ok / abrupt / refused
// (the board has no raw paste) / unknown (an old board; its reply is forwarded) /
// unexpected / error.
async function paste(s, id, code) {
  const q = new ByteQueue();
  s.paste = q;
  let status = "ok", detail = "", extra = [];
  try {
    await write(s, Uint8Array.of(0x05, 0x41, 0x01));
    const r = await q.next(), answer = await q.next();
    if (r !== 0x52 || (answer !== 0 && answer !== 1)) {
      status = "unknown";
      extra = [r, answer];
    } else if (answer === 0) {
      status = "refused";
    } else {
      const window = (await q.next()) | ((await q.next()) << 8);
      let remain = window, i = 0;
      writing: while (i < code.length) {
        while (remain === 0 || q.length) {
          const b = await q.next();
          if (b === 0x01) {
            remain += window;
          } else if (b === 0x04) {
            await write(s, Uint8Array.of(0x04));
            status = "abrupt";
            break writing;
          } else {
            status = "unexpected";
            detail = `byte ${b} while writing`;
            break writing;
          }
        }
        const n = Math.min(remain, code.length - i);
        await write(s, code.subarray(i, i + n));
        i += n;
        remain -= n;
      }
      if (status === "ok") {
        await write(s, Uint8Array.of(0x04));
        for (;;) {
          const b = await q.next();
          if (b === 0x04) break;
          if (b !== 0x01) { status = "unexpected"; detail = `byte ${b} after the end`; break; }
        }
      }
    }
  } catch (e) {
    status = "error";
    detail = `${e.name}: ${e.message}`;
  }
  if (s.paste === q) s.paste = null;
  const rest = q.rest();
  const forwarded = new Uint8Array(extra.length + rest.length);
  forwarded.set(extra, 0);
  forwarded.set(rest, extra.length);
  if (forwarded.length) forward(s, forwarded);
  send(s, { kind: "reply", of: "paste", id, status, detail });
}

function feed(s, bytes) {
  if (s.paste) s.paste.push(bytes);
  else forward(s, bytes);
}

async function readLoop(s, port) {
  while (s.port === port && port.readable) {
    const reader = port.readable.getReader();
    s.reader = reader;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;                      // cancelled: the port is being closed
        if (value && value.length) feed(s, value);
      }
    } catch (e) {
      if (!RECOVERABLE.has(e.name)) { lost(s, port, e); return; }
    } finally {
      try { reader.releaseLock(); } catch (e) { /* already released */ }
    }
  }
}

function describe(e) {
  return e && e.name ? `${e.name}: ${e.message}` : String(e);
}

function lost(s, port, error, kind = "lost") {
  if (s.port !== port) return Promise.resolve();
  const reader = s.reader, writer = s.writer;
  s.port = null;
  s.reader = null;
  s.writer = null;
  s.state = kind;
  s.detail = describe(error);
  if (s.paste) s.paste.fail(error instanceof Error ? error : new Error(String(error)));
  send(s, { kind, reason: s.detail });
  redraw(s);
  return release(port, reader, writer);
}

// Close a port whose streams this page holds: a locked stream makes close() fail, and a port
// left open cannot be opened again when the board comes back.
async function release(port, reader, writer) {
  try { if (writer) writer.releaseLock(); } catch (e) { /* released */ }
  try { if (reader) await reader.cancel(); } catch (e) { /* errored already */ }
  try { if (reader) reader.releaseLock(); } catch (e) { /* released */ }
  try { await port.close(); } catch (e) { /* closed, or gone with the board */ }
}

async function openPort(s, port) {
  if (port === s.port) {                       // the board already open: keep it
    redraw(s);
    return;
  }
  if (s.port) await lost(s, s.port, "replaced by another port", "closed");
  await port.open({ baudRate: s.model.get("baud_rate"),
                    bufferSize: s.model.get("buffer_bytes") });
  s.port = port;
  s.writer = port.writable.getWriter();
  s.state = "open";
  s.detail = "";
  const info = port.getInfo ? port.getInfo() : {};
  s.info = { usb_vendor_id: info.usbVendorId ?? null, usb_product_id: info.usbProductId ?? null };
  s.opens += 1;
  port.addEventListener("disconnect", () => lost(s, port, "the board was unplugged"));
  readLoop(s, port);
  send(s, { kind: "opened", info: s.info, opens: s.opens });
  redraw(s);
}

async function connect(s) {
  try {
    const port = await navigator.serial.requestPort({});
    await openPort(s, port);
  } catch (e) {
    s.detail = describe(e);
    if (s.state !== "open") s.state = "failed";
    send(s, { kind: "failed", reason: s.detail });
    redraw(s);
  }
}

function handle(s, msg, buffers) {
  switch (msg.kind) {
    case "ping":
      // The page's state rides on the reply: messages sent before the widget's subshell
      // existed (its first "opened" or "unsupported") reach the kernel only after the cell.
      send(s, { kind: "reply", of: "ping", id: msg.id, status: "ok", state: s.state,
                opens: s.opens, info: s.info, reason: s.detail });
      break;
    case "write":
      for (const b of buffers) write(s, bytesOf(b)).catch(() => {});
      break;
    case "paste":
      paste(s, msg.id, bytesOf(buffers[0]));
      break;
    case "signals": {
      const port = s.port, levels = {};
      if ("dtr" in msg) levels.dataTerminalReady = msg.dtr;
      if ("rts" in msg) levels.requestToSend = msg.rts;
      queue(s, () => (port && s.port === port ? port.setSignals(levels) : null))
        .catch(() => {});
      break;
    }
    case "abort":
      if (s.paste) s.paste.fail(new Error("the kernel stopped waiting"));
      break;
  }
}

function initialize({ model }) {
  const s = session(model);
  const onMessage = (msg, buffers) => handle(s, msg, buffers || []);
  model.on("msg:custom", onMessage);
  if (!navigator.serial) {
    send(s, { kind: "unsupported", reason: "this browser has no Web Serial (navigator.serial)" });
  } else if (s.state === "open") {
    send(s, { kind: "opened", info: s.info, opens: s.opens });   // a port already open
  }
  return () => model.off("msg:custom", onMessage);
}

const TEXT = {
  unsupported: () => "This browser has no Web Serial: open the notebook in Chrome, Edge or " +
    "Opera on a desktop computer to connect a board.",
  waiting: () => "Plug in the board, click Connect board, and pick its port in the list " +
    "the browser shows.",
  open: (s) => `Connected (USB ${hex(s.info.usb_vendor_id)}:${hex(s.info.usb_product_id)}). ` +
    "Cells that use the board run through this page: keep this tab open.",
  lost: (s) => `Lost the board (${s.detail}). Plug it in and click Connect board.`,
  closed: (s) => `Port closed (${s.detail}). Click Connect board to open it again.`,
  failed: (s) => `No port opened (${s.detail}). Click Connect board and pick the board's port.`,
};

function hex(v) {
  return v === null || v === undefined ? "?" : v.toString(16).padStart(4, "0");
}

function render({ model, el }) {
  const s = session(model);
  const root = document.createElement("div");
  root.className = "emlab-serial";
  const button = document.createElement("button");
  button.className = "emlab-serial-connect jupyter-button";
  const status = document.createElement("span");
  status.className = "emlab-serial-status";
  root.append(button, status);
  el.appendChild(root);
  button.addEventListener("click", () => connect(s));
  const draw = () => {
    root.dataset.state = s.state;
    button.textContent = s.state === "open" ? "Connect another board" : "Connect board";
    button.disabled = s.state === "unsupported";
    status.textContent = (TEXT[s.state] || (() => s.state))(s);
  };
  s.views.add(draw);
  draw();
  return () => s.views.delete(draw);
}

export default { initialize, render };
