// Label widget view (anywidget ESM). It draws what Python sends and reports gestures;
// Python validates every label change, saves it, and answers with the regions to draw.
// Samples arrive as little-endian bytes for the visible range only (see widgets/_tiles.py).

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
const LANE_PX = 72, SPEC_PX = 128, OVERVIEW_PX = 34, AXIS_PX = 22, EDGE_PX = 6, DRAG_PX = 3;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HELP = "drag: new region · drag a region: move (it is selected) · the selected " +
  "region's inner edges: resize · 1–9: class " +
  "(relabels the selected region) · Del: delete · Ctrl+Z / Ctrl+Shift+Z: undo / redo · " +
  "←/→ or drag the time axis: pan · wheel, +/−: zoom · 0: all · [ ]: previous / next region" +
  " · Space: play (audio) · Esc: deselect";

function float32s(view) {
  const n = view.byteLength >> 2;
  if (LITTLE_ENDIAN) {
    return new Float32Array(view.buffer.slice(view.byteOffset, view.byteOffset + 4 * n));
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function int16s(view) {
  const n = view.byteLength >> 1, out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true) / 32768;
  return out;
}

function colormap() {
  const rgb = VIRIDIS.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
  const lut = new Uint8ClampedArray(256 * 4);
  for (let v = 0; v < 256; v++) {
    const x = (v / 255) * (rgb.length - 1), k = Math.min(Math.floor(x), rgb.length - 2);
    const f = x - k;
    for (let c = 0; c < 3; c++) lut[4 * v + c] = rgb[k][c] * (1 - f) + rgb[k + 1][c] * f;
    lut[4 * v + 3] = 255;
  }
  return lut;
}

function niceStep(span, target) {
  const raw = span / Math.max(target, 1), p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function formatTime(t, step) {
  const digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  if (t >= 60) {
    const m = Math.floor(t / 60), s = t - 60 * m;
    return `${m}:${s.toFixed(digits).padStart(digits ? 3 + digits : 2, "0")}`;
  }
  return `${t.toFixed(digits)}s`;
}

function el(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function render({ model, el: host }) {
  const t0 = performance.now();
  const meta = model.get("meta");
  const duration = meta.duration_s, rate = meta.samplerate_hz;
  const nCh = meta.channels.length, isAudio = meta.kind === "audio";
  const minSpan = Math.min(duration, Math.max(8 / rate, 1e-4));
  const lut = colormap();
  const stats = (window.emlabLabelStats = window.emlabLabelStats || []);
  const listeners = [];
  const on = (target, type, fn, opts) => {
    target.addEventListener(type, fn, opts);
    listeners.push(() => target.removeEventListener(type, fn, opts));
  };

  // -- DOM -------------------------------------------------------------------------------
  const root = el("div", "emlab-label", host);
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true");   // JupyterLab: keys are ours
  root.setAttribute("data-p-suppress-shortcuts", "true");
  const bar = el("div", "emlab-bar", root);
  const picker = el("div", "emlab-picker", bar);
  const tools = el("div", "emlab-tools", bar);
  const button = (label, title, fn) => {
    const b = el("button", "emlab-btn", tools, label);
    b.title = title;
    on(b, "click", (e) => { fn(e); root.focus(); });
    return b;
  };
  const undoBtn = button("↶", "undo (Ctrl+Z)", () => model.send({ type: "undo" }));
  const redoBtn = button("↷", "redo (Ctrl+Shift+Z)", () => model.send({ type: "redo" }));
  button("−", "zoom out (−)", () => zoom(2));
  button("+", "zoom in (+)", () => zoom(0.5));
  button("all", "whole recording (0)", () => setView(0, duration));
  const playBtn = isAudio ? button("▶", "play the view or the selected region (Space)",
    () => togglePlay()) : null;
  const readout = el("span", "emlab-readout", tools);
  const overviewCv = el("canvas", "emlab-overview", root);
  const mainCv = el("canvas", "emlab-main", root);
  const specCv = isAudio ? el("canvas", "emlab-spec", root) : null;
  const axisCv = el("canvas", "emlab-axis", root);
  const status = el("div", "emlab-status", root);
  el("div", "emlab-help", root, HELP);
  root.dataset.state = "loading";

  // -- state -----------------------------------------------------------------------------
  let width = 0;
  let view = { start: model.get("view_start_s"), end: model.get("view_end_s") || duration };
  let tile = null, spec = null;              // the latest tile and its spectrogram bitmap
  let seq = 0, inflight = 0, wanted = false;
  let changedAt = null, firstDraw = true;
  let drag = null, hover = null;
  let audio = null;
  let viewSaveTimer = null, adoptingView = false;
  const overview = float32s(model.get("overview"));
  const ranges = channelRanges(overview, nCh);

  function channelRanges(mm, n) {
    const out = [];
    for (let c = 0; c < n; c++) {
      let lo = Infinity, hi = -Infinity;
      for (let j = 0; j < mm.length / (2 * n); j++) {
        const a = mm[(j * n + c) * 2], b = mm[(j * n + c) * 2 + 1];
        if (a < lo) lo = a;
        if (b > hi) hi = b;
      }
      if (!isFinite(lo)) { lo = -1; hi = 1; }
      if (hi - lo < 1e-12) { lo -= 1; hi += 1; }
      const pad = 0.05 * (hi - lo);
      out.push([lo - pad, hi + pad]);
    }
    return out;
  }

  const colorOf = (label) => {
    const i = model.get("classes").indexOf(label);
    return PALETTE[(i < 0 ? model.get("classes").length : i) % PALETTE.length];
  };
  const xOf = (t) => ((t - view.start) / (view.end - view.start)) * width;
  const tOf = (x) => view.start + (x / width) * (view.end - view.start);

  // -- layout ----------------------------------------------------------------------------
  function size(cv, h) {
    const dpr = window.devicePixelRatio || 1;
    cv.width = Math.round(width * dpr);
    cv.height = Math.round(h * dpr);
    cv.style.width = `${width}px`;
    cv.style.height = `${h}px`;
    const ctx = cv.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }
  function layout() {
    // The content box: clientWidth includes the padding, and canvases that wide ran past
    // it (the last seconds of a long recording hidden under the border).
    const css = getComputedStyle(root);
    const inner = root.clientWidth - parseFloat(css.paddingLeft || 0) -
      parseFloat(css.paddingRight || 0);
    const w = Math.max(200, Math.floor(inner || 800));
    if (w === width) return;
    width = w;
    size(overviewCv, OVERVIEW_PX);
    size(mainCv, LANE_PX * nCh);
    if (specCv) size(specCv, SPEC_PX);
    size(axisCv, AXIS_PX);
    requestTile();
    draw();
  }

  // -- the view --------------------------------------------------------------------------
  function setView(start, end, fromPython) {
    let span = Math.min(Math.max(end - start, minSpan), duration);
    start = Math.min(Math.max(start, 0), duration - span);
    if (start === view.start && start + span === view.end) return;
    view = { start, end: start + span };
    changedAt = changedAt ?? performance.now();
    requestTile();
    draw();
    if (!fromPython) saveView();
  }
  function saveView() {
    if (viewSaveTimer) return;
    viewSaveTimer = setTimeout(() => {
      viewSaveTimer = null;
      adoptingView = true;
      model.set({ view_start_s: view.start, view_end_s: view.end });
      model.save_changes();
      adoptingView = false;
    }, 200);
  }
  function zoom(factor, atX) {
    const anchor = atX === undefined ? (view.start + view.end) / 2 : tOf(atX);
    const span = (view.end - view.start) * factor;
    const f = (anchor - view.start) / (view.end - view.start);
    setView(anchor - f * span, anchor - f * span + span);
  }
  function pan(fraction) {
    const span = view.end - view.start;
    setView(view.start + fraction * span, view.end + fraction * span);
  }

  function requestTile() {
    if (!width) return;
    if (inflight) { wanted = true; return; }
    inflight = ++seq;
    model.send({ type: "view", req: seq, start_s: view.start, end_s: view.end,
      width_px: width });
  }

  function onTile(msg, buffers) {
    const values = float32s(buffers[0]);
    tile = { ...msg, values };
    spec = null;
    if (msg.spec_cols) {
      const levels = new Uint8Array(buffers[1].buffer, buffers[1].byteOffset,
        buffers[1].byteLength);
      const cv = document.createElement("canvas");
      cv.width = msg.spec_cols;
      cv.height = msg.spec_bands;
      const img = cv.getContext("2d").createImageData(msg.spec_cols, msg.spec_bands);
      for (let j = 0; j < msg.spec_cols; j++) {
        for (let b = 0; b < msg.spec_bands; b++) {
          const v = levels[j * msg.spec_bands + b], o = ((msg.spec_bands - 1 - b) *
            msg.spec_cols + j) * 4;
          img.data[o] = lut[4 * v]; img.data[o + 1] = lut[4 * v + 1];
          img.data[o + 2] = lut[4 * v + 2]; img.data[o + 3] = 255;
        }
      }
      cv.getContext("2d").putImageData(img, 0, 0);
      spec = cv;
    }
    inflight = 0;
    if (wanted) { wanted = false; requestTile(); }
    draw();
    if (!inflight) {                     // the view on screen is the one asked for: record it
      const now = performance.now();
      const entry = { bytes: msg.bytes, mode: msg.mode, cols: msg.n_cols,
        span_s: view.end - view.start, first: firstDraw,
        ms: firstDraw ? now - t0 : (changedAt === null ? 0 : now - changedAt) };
      if (performance.memory) entry.heap_bytes = performance.memory.usedJSHeapSize;
      stats.push(entry);
      if (stats.length > 2000) stats.splice(0, stats.length - 2000);
      firstDraw = false;
      changedAt = null;
      root.dataset.state = "ready";
      root.dataset.draws = String(Number(root.dataset.draws || 0) + 1);
    }
  }

  // -- drawing ---------------------------------------------------------------------------
  function draw() {
    if (!width) return;
    drawOverview();
    drawMain();
    if (specCv) drawSpec();
    drawAxis();
    const regions = model.get("regions");
    root.dataset.regions = regions.map((r) => r.label).sort().join(",");   // for tests
    root.dataset.view = `${view.start},${view.end}`;
    root.dataset.selected = String(model.get("selected_id"));
    undoBtn.disabled = !model.get("can_undo");
    redoBtn.disabled = !model.get("can_redo");
    readout.textContent = `${formatTime(view.start, (view.end - view.start) / 10)} – ` +
      `${formatTime(view.end, (view.end - view.start) / 10)} of ${formatTime(duration, 1)}` +
      ` · ${regions.length} region${regions.length === 1 ? "" : "s"}` +
      (hover === null ? "" : ` · cursor ${hover.toFixed(3)} s`);
  }

  function shownRegions() {
    const regions = model.get("regions").slice();
    if (drag && drag.draft) {
      const i = regions.findIndex((r) => r.id === drag.draft.id);
      if (i >= 0) regions.splice(i, 1);
      regions.push(drag.draft);
    }
    return regions;
  }

  function drawRegions(ctx, h, withText) {
    const selected = model.get("selected_id");
    for (const r of shownRegions()) {
      if (r.end_s < view.start || r.start_s > view.end) continue;
      const x0 = xOf(r.start_s), x1 = xOf(r.end_s), color = colorOf(r.label);
      ctx.globalAlpha = r.id === selected ? 0.3 : 0.16;
      ctx.fillStyle = color;
      ctx.fillRect(x0, 0, Math.max(1, x1 - x0), h);
      ctx.globalAlpha = 1;
      ctx.strokeStyle = color;
      ctx.lineWidth = r.id === selected ? 2.5 : 1;
      ctx.strokeRect(x0, 0.5, Math.max(1, x1 - x0), h - 1);
      if (withText) {
        ctx.fillStyle = color;
        ctx.font = "bold 11px sans-serif";
        ctx.fillText(r.label, Math.max(x0, 0) + 3, 12);
      }
    }
  }

  function drawMain() {
    const ctx = mainCv.getContext("2d"), h = LANE_PX * nCh;
    ctx.clearRect(0, 0, width, h);
    for (let c = 0; c < nCh; c++) {
      const top = c * LANE_PX;
      ctx.fillStyle = c % 2 ? "#fafafa" : "#f3f3f3";
      ctx.fillRect(0, top, width, LANE_PX);
      ctx.fillStyle = "#666";
      ctx.font = "10px sans-serif";
      ctx.fillText(`${meta.channels[c]}${meta.units[c] ? ` [${meta.units[c]}]` : ""}`,
        4, top + LANE_PX - 4);
    }
    drawRegions(ctx, h, true);
    if (tile) drawTrace(ctx);
    if (audio && audio.playing) {
      const t = audio.start_s + (audio.ctx.currentTime - audio.t0);
      ctx.strokeStyle = "#000";
      ctx.beginPath(); ctx.moveTo(xOf(t), 0); ctx.lineTo(xOf(t), h); ctx.stroke();
    }
  }

  function drawTrace(ctx) {
    const { i0, i1, n_cols: n, mode, values } = tile;
    const perCol = (i1 - i0) / n;
    for (let c = 0; c < nCh; c++) {
      const [lo, hi] = ranges[c], top = c * LANE_PX;
      const y = (v) => top + LANE_PX - 2 - ((v - lo) / (hi - lo)) * (LANE_PX - 4);
      ctx.strokeStyle = ctx.fillStyle = "#2b4c7e";
      ctx.lineWidth = 1;
      if (mode === "minmax") {
        for (let j = 0; j < n; j++) {
          const a = values[(j * nCh + c) * 2], b = values[(j * nCh + c) * 2 + 1];
          if (Number.isNaN(a)) continue;                        // a gap: nothing drawn
          const xa = xOf((i0 + j * perCol) / rate), xb = xOf((i0 + (j + 1) * perCol) / rate);
          if (xb < 0 || xa > width) continue;
          ctx.fillRect(xa, y(b), Math.max(1, xb - xa), Math.max(1, y(a) - y(b)));
        }
      } else {
        ctx.beginPath();
        let pen = false;
        for (let k = 0; k < n; k++) {
          const v = values[k * nCh + c];
          if (Number.isNaN(v)) { pen = false; continue; }
          const x = xOf((i0 + k) / rate);
          if (pen) ctx.lineTo(x, y(v)); else ctx.moveTo(x, y(v));
          pen = true;
        }
        ctx.stroke();
        if (width / n > 6) {
          for (let k = 0; k < n; k++) {
            const v = values[k * nCh + c];
            if (!Number.isNaN(v)) ctx.fillRect(xOf((i0 + k) / rate) - 1.5, y(v) - 1.5, 3, 3);
          }
        }
      }
    }
  }

  function drawSpec() {
    const ctx = specCv.getContext("2d");
    ctx.fillStyle = "#111";
    ctx.fillRect(0, 0, width, SPEC_PX);
    if (tile && spec) {
      const xa = xOf(tile.i0 / rate), xb = xOf(tile.i1 / rate);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(spec, xa, 0, xb - xa, SPEC_PX);
    }
    drawRegions(ctx, SPEC_PX, false);
  }

  function drawOverview() {
    const ctx = overviewCv.getContext("2d"), h = OVERVIEW_PX;
    ctx.fillStyle = "#eee";
    ctx.fillRect(0, 0, width, h);
    const n = meta.overview_cols;
    ctx.fillStyle = "#8aa";
    for (let c = 0; c < nCh; c++) {
      const [lo, hi] = ranges[c];
      for (let j = 0; j < n; j++) {
        const a = overview[(j * nCh + c) * 2], b = overview[(j * nCh + c) * 2 + 1];
        if (Number.isNaN(a)) continue;
        const ya = h - 6 - ((a - lo) / (hi - lo)) * (h - 8);
        const yb = h - 6 - ((b - lo) / (hi - lo)) * (h - 8);
        ctx.fillRect((j / n) * width, yb, Math.max(1, width / n), Math.max(1, ya - yb));
      }
    }
    for (const r of model.get("regions")) {
      ctx.fillStyle = colorOf(r.label);
      ctx.fillRect((r.start_s / duration) * width, h - 4,
        Math.max(1, ((r.end_s - r.start_s) / duration) * width), 4);
    }
    const xa = (view.start / duration) * width, xb = (view.end / duration) * width;
    ctx.fillStyle = "rgba(0,0,0,0.12)";
    ctx.fillRect(0, 0, xa, h);
    ctx.fillRect(xb, 0, width - xb, h);
    ctx.strokeStyle = "#c00";
    ctx.lineWidth = 1.5;
    ctx.strokeRect(xa, 1, Math.max(2, xb - xa), h - 2);
  }

  function drawAxis() {
    const ctx = axisCv.getContext("2d");
    ctx.clearRect(0, 0, width, AXIS_PX);
    const step = niceStep(view.end - view.start, width / 110);
    ctx.fillStyle = ctx.strokeStyle = "#444";
    ctx.font = "10px sans-serif";
    for (let t = Math.ceil(view.start / step) * step; t <= view.end; t += step) {
      const x = xOf(t);
      ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, 5); ctx.stroke();
      ctx.fillText(formatTime(t, step), x + 2, 15);
    }
  }

  // -- gestures --------------------------------------------------------------------------
  function regionAt(x) {
    const t = tOf(x);
    let best = null;
    for (const r of model.get("regions")) {
      if (t >= r.start_s && t <= r.end_s && (!best || r.end_s - r.start_s <
          best.end_s - best.start_s)) best = r;
    }
    return best;
  }
  function edgeAt(x) {
    // Only the selected region resizes, and only from just inside its edges: a press in a
    // gap between regions always creates one, a press inside an unselected region moves it,
    // whatever the zoom (a 6-px zone around every edge was 1.5 s at full view on a long
    // recording, and swallowed the gaps of a densely labelled one).
    const sel = model.get("selected_id");
    const r = model.get("regions").find((q) => q.id === sel);
    if (!r) return null;
    const x0 = xOf(r.start_s), x1 = xOf(r.end_s);
    if (x1 - x0 < 3 * EDGE_PX) return null;                    // narrow: move it
    if (x >= x0 - 1 && x <= x0 + EDGE_PX) return { r, edge: "start_s" };
    if (x >= x1 - EDGE_PX && x <= x1 + 1) return { r, edge: "end_s" };
    return null;
  }
  function select(id) {
    model.set("selected_id", id);
    model.save_changes();
  }
  const localX = (e, cv) => e.clientX - cv.getBoundingClientRect().left;

  function onDown(e) {
    root.focus({ preventScroll: true });
    const cv = e.currentTarget, x = localX(e, cv);
    cv.setPointerCapture(e.pointerId);
    if (e.button === 1 || e.shiftKey) {
      drag = { kind: "pan", x0: x, view0: { ...view } };
      return;
    }
    const hit = edgeAt(x);
    if (hit) {
      select(hit.r.id);
      drag = { kind: "resize", x0: x, r: hit.r, edge: hit.edge, moved: false };
      return;
    }
    const r = regionAt(x);
    if (r) {
      select(r.id);
      drag = { kind: "move", x0: x, r, moved: false };
      return;
    }
    drag = { kind: "create", x0: x, moved: false };
  }
  function onMove(e) {
    const cv = e.currentTarget, x = localX(e, cv);
    hover = tOf(x);
    if (!drag) {
      const hit = edgeAt(x);
      cv.style.cursor = hit ? "ew-resize" : regionAt(x) ? "move" : "crosshair";
      draw();
      return;
    }
    if (Math.abs(x - drag.x0) >= DRAG_PX) drag.moved = true;
    if (!drag.moved) return;
    const dt = tOf(x) - tOf(drag.x0);
    if (drag.kind === "pan") {
      const span = drag.view0.end - drag.view0.start;
      const shift = -((x - drag.x0) / width) * span;
      setView(drag.view0.start + shift, drag.view0.end + shift);
      return;
    }
    if (drag.kind === "create") {
      const a = clampT(tOf(drag.x0)), b = clampT(tOf(x));
      drag.draft = { id: -2, start_s: Math.min(a, b), end_s: Math.max(a, b),
        label: model.get("current_class") };
    } else if (drag.kind === "move") {
      const span = drag.r.end_s - drag.r.start_s;
      const s = Math.min(Math.max(drag.r.start_s + dt, 0), duration - span);
      drag.draft = { ...drag.r, start_s: s, end_s: s + span };
    } else {
      const d = { ...drag.r };
      d[drag.edge] = clampT(drag.r[drag.edge] + dt);
      drag.draft = { ...d, start_s: Math.min(d.start_s, d.end_s),
        end_s: Math.max(d.start_s, d.end_s) };
    }
    draw();
  }
  const clampT = (t) => Math.min(Math.max(t, 0), duration);
  function onUp() {
    const d = drag;
    drag = null;
    if (!d) return;
    if (d.kind === "create" && !d.moved) select(-1);
    else if (d.kind === "create" && d.draft.end_s > d.draft.start_s) {
      if (!d.draft.label) status.textContent = "pick a class first (buttons or keys 1–9)";
      else model.send({ type: "add", start_s: d.draft.start_s, end_s: d.draft.end_s,
        label: d.draft.label });
    } else if ((d.kind === "move" || d.kind === "resize") && d.moved && d.draft) {
      model.send({ type: "update", id: d.r.id, start_s: d.draft.start_s,
        end_s: d.draft.end_s });
    }
    draw();
  }
  function onWheel(e) {
    e.preventDefault();
    const x = localX(e, e.currentTarget);
    if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      pan(((e.shiftKey ? e.deltaY : e.deltaX) / width));
    } else {
      zoom(Math.exp(Math.max(-300, Math.min(300, e.deltaY)) * 0.002), x);
    }
  }
  function onOverview(e) {
    if (e.type === "pointerdown") {
      overviewCv.setPointerCapture(e.pointerId);
      drag = { kind: "overview" };
    }
    if (!drag || drag.kind !== "overview") return;
    if (e.type === "pointerup") { drag = null; return; }
    const t = (localX(e, overviewCv) / width) * duration, span = view.end - view.start;
    setView(t - span / 2, t + span / 2);
  }
  function onAxis(e) {
    if (e.type === "pointerdown") {
      axisCv.setPointerCapture(e.pointerId);
      drag = { kind: "pan", x0: localX(e, axisCv), view0: { ...view }, moved: true };
    } else if (e.type === "pointermove" && drag && drag.kind === "pan") {
      const span = drag.view0.end - drag.view0.start;
      const shift = -((localX(e, axisCv) - drag.x0) / width) * span;
      setView(drag.view0.start + shift, drag.view0.end + shift);
    } else if (e.type === "pointerup") drag = null;
  }

  function jumpRegion(direction) {
    const regions = model.get("regions").slice().sort((a, b) => a.start_s - b.start_s);
    if (!regions.length) return;
    const sel = regions.findIndex((r) => r.id === model.get("selected_id"));
    const centre = (view.start + view.end) / 2;
    let i = sel >= 0 ? sel + direction : direction > 0 ?
      regions.findIndex((r) => r.start_s > centre) :
      regions.map((r) => r.start_s < centre).lastIndexOf(true);
    if (i < 0 || i >= regions.length) return;
    const r = regions[i], span = view.end - view.start;
    select(r.id);
    setView((r.start_s + r.end_s) / 2 - span / 2, (r.start_s + r.end_s) / 2 + span / 2);
  }

  function onKey(e) {
    const k = e.key, ctrl = e.ctrlKey || e.metaKey, sel = model.get("selected_id");
    let handled = true;
    if (k === "ArrowLeft") pan(e.shiftKey ? -0.5 : -0.1);
    else if (k === "ArrowRight") pan(e.shiftKey ? 0.5 : 0.1);
    else if (k === "+" || k === "=") zoom(0.5);
    else if (k === "-" || k === "_") zoom(2);
    else if (k === "0") setView(0, duration);
    else if (/^[1-9]$/.test(k) && !ctrl) {
      const cls = model.get("classes")[Number(k) - 1];
      if (cls === undefined) status.textContent = `no class ${k}`;
      else {
        model.set("current_class", cls);
        model.save_changes();
        if (sel >= 0) model.send({ type: "update", id: sel, label: cls });
      }
    } else if ((k === "Delete" || k === "Backspace") && sel >= 0) {
      model.send({ type: "remove", id: sel });
    } else if (ctrl && (k === "z" || k === "Z")) {
      model.send({ type: e.shiftKey ? "redo" : "undo" });
    } else if (ctrl && (k === "y" || k === "Y")) model.send({ type: "redo" });
    else if (k === "Escape") select(-1);
    else if (k === "[") jumpRegion(-1);
    else if (k === "]") jumpRegion(1);
    else if (k === " " && isAudio) togglePlay();
    else handled = false;
    if (handled) { e.preventDefault(); e.stopPropagation(); }
  }

  // -- audio -----------------------------------------------------------------------------
  function togglePlay() {
    if (audio && audio.playing) { audio.source.stop(); return; }
    const sel = model.get("regions").find((r) => r.id === model.get("selected_id"));
    const range = sel ? [sel.start_s, sel.end_s] : [view.start, view.end];
    model.send({ type: "play", start_s: range[0], end_s: range[1] });
  }
  function onAudio(msg, buffers) {
    const samples = int16s(buffers[0]);
    if (!samples.length) return;
    const Ctx = window.AudioContext || window.webkitAudioContext;
    const ctx = (audio && audio.ctx) || new Ctx();
    const buf = ctx.createBuffer(1, samples.length, msg.samplerate_hz);
    buf.copyToChannel(samples, 0);
    const source = ctx.createBufferSource();
    source.buffer = buf;
    source.connect(ctx.destination);
    audio = { ctx, source, playing: true, t0: ctx.currentTime, start_s: msg.start_s };
    root.dataset.playing = "true";
    if (playBtn) playBtn.textContent = "■";
    source.onended = () => {
      audio.playing = false;
      root.dataset.playing = "false";
      if (playBtn) playBtn.textContent = "▶";
      draw();
    };
    source.start();
    const tick = () => { if (audio.playing) { drawMain(); requestAnimationFrame(tick); } };
    requestAnimationFrame(tick);
  }

  // -- wiring ----------------------------------------------------------------------------
  function buildPicker() {
    picker.textContent = "";
    const current = model.get("current_class");
    model.get("classes").forEach((cls, i) => {
      const b = el("button", "emlab-class" + (cls === current ? " emlab-current" : ""),
        picker, `${i < 9 ? i + 1 + " " : ""}${cls}`);
      b.style.borderColor = colorOf(cls);
      b.dataset.cls = cls;
      on(b, "click", () => {
        model.set("current_class", cls);
        model.save_changes();
        const sel = model.get("selected_id");
        if (sel >= 0) model.send({ type: "update", id: sel, label: cls });
        root.focus();
      });
    });
  }
  function onMessage(msg, buffers) {
    if (msg.type === "tile") onTile(msg, buffers);
    else if (msg.type === "audio") onAudio(msg, buffers);
  }
  function onViewTrait() {
    if (adoptingView) return;
    setView(model.get("view_start_s"), model.get("view_end_s"), true);
  }
  const redraw = () => draw();
  const showMessage = () => { status.textContent = model.get("message"); };
  model.on("msg:custom", onMessage);
  model.on("change:regions", redraw);
  model.on("change:selected_id", redraw);
  model.on("change:can_undo", redraw);
  model.on("change:can_redo", redraw);
  model.on("change:classes", buildPicker);
  model.on("change:current_class", buildPicker);
  model.on("change:message", showMessage);
  model.on("change:view_start_s", onViewTrait);
  model.on("change:view_end_s", onViewTrait);

  for (const cv of [mainCv, specCv].filter(Boolean)) {
    on(cv, "pointerdown", onDown);
    on(cv, "pointermove", onMove);
    on(cv, "pointerup", onUp);
    on(cv, "pointerleave", () => { hover = null; });
    on(cv, "wheel", onWheel, { passive: false });
  }
  for (const type of ["pointerdown", "pointermove", "pointerup"]) {
    on(overviewCv, type, onOverview);
    on(axisCv, type, onAxis);
  }
  on(overviewCv, "wheel", onWheel, { passive: false });
  on(root, "keydown", onKey);
  buildPicker();
  showMessage();
  const resizer = new ResizeObserver(() => layout());
  resizer.observe(root);
  layout();

  return () => {                                  // anywidget calls this when the view goes
    resizer.disconnect();
    listeners.forEach((off) => off());
    model.off("msg:custom", onMessage);
    for (const name of ["regions", "selected_id", "can_undo", "can_redo"]) {
      model.off(`change:${name}`, redraw);
    }
    model.off("change:classes", buildPicker);
    model.off("change:current_class", buildPicker);
    model.off("change:message", showMessage);
    model.off("change:view_start_s", onViewTrait);
    model.off("change:view_end_s", onViewTrait);
    if (viewSaveTimer) clearTimeout(viewSaveTimer);
    if (audio && audio.playing) audio.source.stop();
    if (audio) audio.ctx.close();
  };
}

export default { render };
