// Label widget view (anywidget ESM). It draws what Python sends and reports gestures;
// Python validates every label change, saves it, and answers with the regions to draw.
// Samples arrive as little-endian bytes for the visible range only (see widgets/_tiles.py).

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
const LANE_PX = 72, SPEC_PX = 128, OVERVIEW_PX = 34, AXIS_PX = 22, EDGE_PX = 6, DRAG_PX = 3;
const GUTTER_PX = 100, PRED_PX = 30;           // y axis gutter / model strip heights
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HELP = "drag: new region · drag a region: move (it is selected) · the selected " +
  "region's inner edges: resize · 1–9: class " +
  "(relabels the selected region; Shift+1–9: classes 10–18) · Del: delete · " +
  "Ctrl+Z / Ctrl+Shift+Z: undo / redo · ←/→ or drag the time axis: pan · wheel, +/−: zoom · " +
  "0: all · [ ]: previous / next region · click the list: jump · with a model: N next least " +
  "sure stretch, A accept it · audio: click: set the playhead, Space: play, L: loop · " +
  "video: click or pan: scrub, Space: play, V: align (pause at an event, V, click it in " +
  "the signal, V) · Esc: deselect, clear the playhead";

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

// One time format per widget, whatever the view: minutes:seconds for recordings longer than
// a minute (every tick, 0:50 and 1:40 alike), plain seconds otherwise; the decimals follow the
// tick step, so neighbouring ticks always read alike.
function timeFormatter(durationS) {
  const minutes = durationS > 60;
  return (t, step) => {
    const digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
    if (minutes) {
      const m = Math.floor((t + 1e-9) / 60), s = Math.max(0, t - 60 * m);
      return `${m}:${s.toFixed(digits).padStart(digits ? 3 + digits : 2, "0")}`;
    }
    return `${t.toFixed(digits)} s`;
  };
}

// A y value as short text: 3 significant digits, no exponent for everyday magnitudes.
function formatValue(v, step) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  const digits = Math.max(0, Math.min(4, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(digits);
}

// Text cut to fit maxPx (with an ellipsis), or "" when not even one letter fits.
function fitText(ctx, text, maxPx) {
  if (ctx.measureText(text).width <= maxPx) return text;
  for (let n = text.length - 1; n > 0; n--) {
    const t = text.slice(0, n) + "…";
    if (ctx.measureText(t).width <= maxPx) return t;
  }
  return "";
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
  const loopBtn = isAudio ? button("⟳", "loop playback (L)", () => toggleLoop()) : null;
  const alignBtn = button("⇄ align", "align the video: pause it at an event, press this, " +
    "click the same event in the signal, press this again (V)", () => toggleAlign());
  const scaleSel = el("select", "emlab-scale", tools);
  scaleSel.title = "y scale: each channel its own range, or one range shared by all";
  for (const [v, text] of [["channel", "scale: per channel"], ["shared", "scale: shared"]]) {
    const o = el("option", "", scaleSel, text);
    o.value = v;
  }
  on(scaleSel, "change", () => {
    model.set("y_scale", scaleSel.value);
    model.save_changes();
    root.focus();
  });
  const readout = el("span", "emlab-readout", tools);

  // Plot (gutter with axis values beside each canvas) and the region list beside it.
  const body = el("div", "emlab-body", root);
  const plot = el("div", "emlab-plot", body);
  const row = (cls, gutterCls) => {
    const r = el("div", `emlab-row ${cls}`, plot);
    const g = el("div", "emlab-gutter" + (gutterCls ? ` ${gutterCls}` : ""), r);
    return [r, g];
  };
  const [, overviewGutter] = row("emlab-row-overview");
  el("span", "emlab-gutter-note", overviewGutter, "whole");
  const overviewCv = el("canvas", "emlab-overview", overviewGutter.parentNode);
  const [predRow, predGutter] = row("emlab-row-pred");
  const predGutterCv = el("canvas", "emlab-pred-gutter", predGutter);
  const predCv = el("canvas", "emlab-pred", predRow);
  const [mainRow, mainGutter] = row("emlab-row-main", "emlab-ygutter");
  const yAxisCv = el("canvas", "emlab-yaxis", mainGutter);
  const laneNames = meta.channels.map((name, c) => {
    const box = el("div", "emlab-lane", mainGutter);
    box.style.top = `${c * LANE_PX}px`;
    box.style.height = `${LANE_PX}px`;
    const title = el("div", "emlab-lane-name", box, name);
    title.title = `${name}${meta.units[c] ? ` [${meta.units[c]}]` : ""}`;
    const unit = el("div", "emlab-lane-unit", box);
    const gains = el("div", "emlab-gain", box);
    const gainBtn = (text, factor, tip) => {
      const b = el("button", "emlab-gain-btn", gains, text);
      b.title = tip;
      b.dataset.channel = String(c);
      on(b, "click", () => { setGain(c, factor); root.focus(); });
    };
    gainBtn("−", 0.5, `halve ${name}'s gain`);
    gainBtn("+", 2, `double ${name}'s gain`);
    return unit;
  });
  const mainCv = el("canvas", "emlab-main", mainRow);
  let specRow = null, freqCv = null, specCv = null;
  if (isAudio) {
    let specGutter;
    [specRow, specGutter] = row("emlab-row-spec");
    freqCv = el("canvas", "emlab-freq", specGutter);
    specCv = el("canvas", "emlab-spec", specRow);
  }
  const [axisRow] = row("emlab-row-axis");
  const axisCv = el("canvas", "emlab-axis", axisRow);
  const side = el("div", "emlab-side", body);
  const videoBox = el("div", "emlab-video", side);
  const videoEl = el("video", "", videoBox);
  videoEl.controls = true;
  videoEl.preload = "auto";
  videoEl.playsInline = true;
  const videoNote = el("div", "emlab-video-note", videoBox);
  const list = el("div", "emlab-list", side);
  const table = el("table", "emlab-regions", list);
  const thead = el("tr", "", el("thead", "", table));
  for (const h of ["class", "start", "end", "duration", "note"]) el("th", "", thead, h);
  const tbody = el("tbody", "", table);
  const status = el("div", "emlab-status", root);
  el("div", "emlab-file", root, meta.saving_to ? `saving every change to ${meta.saving_to}` :
    "labels in memory only: pass labels='file.labels.csv' to save them");
  el("div", "emlab-help", root, HELP);
  root.dataset.state = "loading";

  // -- state -----------------------------------------------------------------------------
  let width = 0;
  let view = { start: model.get("view_start_s"), end: model.get("view_end_s") || duration };
  let tile = null, spec = null;              // the latest tile and its spectrogram bitmap
  let seq = 0, inflight = 0, wanted = false;
  let changedAt = null, firstDraw = true;
  let drag = null, hover = null;
  let audio = null, loop = false, playhead = null, loops = 0;
  // The video: its blob URL, the chunks still arriving, the time we last seeked it to (so a
  // seek of our own is not taken for the user's), and whether an alignment is under way.
  let video = { serial: 0, url: null, chunks: [], ready: false, ownSeek: null };
  let aligning = false;
  const formatTime = timeFormatter(duration);
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
  function size(cv, h, w = width) {
    const dpr = window.devicePixelRatio || 1;
    cv.width = Math.round(w * dpr);
    cv.height = Math.round(h * dpr);
    cv.style.width = `${w}px`;
    cv.style.height = `${h}px`;
    const ctx = cv.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }
  function layout(force) {
    // The plot column's content box (it has no padding; the root's padding is outside it),
    // less the gutter that carries the axis values: canvases never run past the border.
    const inner = plot.clientWidth - GUTTER_PX;
    const w = Math.max(120, Math.floor(inner || 600));
    if (w === width && !force) return;
    width = w;
    size(overviewCv, OVERVIEW_PX);
    size(predCv, PRED_PX);
    size(predGutterCv, PRED_PX, GUTTER_PX);
    size(mainCv, LANE_PX * nCh);
    size(yAxisCv, LANE_PX * nCh, GUTTER_PX);
    if (specCv) { size(specCv, SPEC_PX); size(freqCv, SPEC_PX, GUTTER_PX); }
    size(axisCv, AXIS_PX);
    list.style.maxHeight = `${Math.max(160, plot.offsetHeight - videoBox.offsetHeight)}px`;
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
    scrubWithView();
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
    drawPred();
    drawMain();
    drawYAxis();
    if (specCv) { drawSpec(); drawFreq(); }
    drawAxis();
    const regions = model.get("regions");
    root.dataset.regions = regions.map((r) => r.label).sort().join(",");   // for tests
    root.dataset.view = `${view.start},${view.end}`;
    root.dataset.selected = String(model.get("selected_id"));
    root.dataset.playhead = playhead === null ? "" : playhead.toFixed(3);
    undoBtn.disabled = !model.get("can_undo");
    redoBtn.disabled = !model.get("can_redo");
    const step = niceStep(view.end - view.start, 10);
    readout.textContent = `${formatTime(view.start, step)} – ` +
      `${formatTime(view.end, step)} of ${formatTime(duration, step)}` +
      ` · ${regions.length} region${regions.length === 1 ? "" : "s"}` +
      (hover === null ? "" : ` · cursor ${formatTime(hover, step / 100)}`);
  }

  // The value range drawn in each lane: the channel's own, or one shared by all, shrunk
  // around its middle by the lane's gain.
  function laneRange(c) {
    let [lo, hi] = ranges[c];
    if (model.get("y_scale") === "shared") {
      lo = Math.min(...ranges.map((r) => r[0]));
      hi = Math.max(...ranges.map((r) => r[1]));
    }
    const gain = (model.get("channel_gain") || [])[c] || 1;
    const mid = (lo + hi) / 2, half = (hi - lo) / 2 / gain;
    return [mid - half, mid + half];
  }
  const laneY = (c) => {
    const [lo, hi] = laneRange(c), top = c * LANE_PX;
    return (v) => top + LANE_PX - 2 - ((v - lo) / (hi - lo)) * (LANE_PX - 4);
  };

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
    const selected = model.get("selected_id"), boxes = [];
    ctx.font = "bold 11px sans-serif";
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
        // The name stays inside its region (cut with "…" or left out when too narrow), on a
        // white tab, so neighbouring names never run together.
        const left = Math.max(x0, 0) + 3, room = Math.min(x1, width) - 3 - left - 6;
        const text = room > 8 ? fitText(ctx, r.label, room) : "";
        if (text) {
          const w = ctx.measureText(text).width;
          ctx.fillStyle = "rgba(255,255,255,0.85)";
          ctx.fillRect(left - 2, 1, w + 4, 14);
          ctx.fillStyle = color;
          ctx.fillText(text, left, 12);
          boxes.push([Math.round(left - 2), Math.round(left + w + 2), text]);
        }
      }
    }
    if (withText) root.dataset.labelBoxes = JSON.stringify(boxes);    // for tests
  }

  function drawPlayhead(ctx, h) {
    if (playhead === null || playhead < view.start || playhead > view.end) return;
    const x = Math.round(xOf(playhead)) + 0.5;
    ctx.strokeStyle = isAudio && ctx.canvas === specCv ? "#fff" : "#000";
    ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, h); ctx.stroke();
  }

  function drawSuggestion(ctx, h) {
    const sug = model.get("suggestion");
    if (!sug || !sug.free) return;
    ctx.save();
    ctx.setLineDash([5, 4]);
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2;
    for (const [a, b] of sug.free) {
      if (b < view.start || a > view.end) continue;
      ctx.strokeRect(xOf(a), 1, Math.max(2, xOf(b) - xOf(a)), h - 2);
    }
    ctx.restore();
  }

  function drawMain() {
    const ctx = mainCv.getContext("2d"), h = LANE_PX * nCh;
    ctx.clearRect(0, 0, width, h);
    for (let c = 0; c < nCh; c++) {
      const top = c * LANE_PX;
      ctx.fillStyle = c % 2 ? "#fafafa" : "#f3f3f3";
      ctx.fillRect(0, top, width, LANE_PX);
      ctx.strokeStyle = "#e0e0e0";
      ctx.lineWidth = 1;
      const y = laneY(c);
      for (const v of yTicks(c)) {
        ctx.beginPath(); ctx.moveTo(0, Math.round(y(v)) + 0.5);
        ctx.lineTo(width, Math.round(y(v)) + 0.5); ctx.stroke();
      }
    }
    drawRegions(ctx, h, true);
    if (tile) drawTrace(ctx);
    drawSuggestion(ctx, h);
    drawPlayhead(ctx, h);
  }

  function yTicks(c) {
    const [lo, hi] = laneRange(c), step = niceStep(hi - lo, 3), out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    }
    return out;
  }

  function drawYAxis() {
    const ctx = yAxisCv.getContext("2d"), h = LANE_PX * nCh, texts = [];
    ctx.clearRect(0, 0, GUTTER_PX, h);
    ctx.font = "10px sans-serif";
    ctx.textAlign = "right";
    ctx.fillStyle = ctx.strokeStyle = "#333";
    const gains = model.get("channel_gain") || [];
    for (let c = 0; c < nCh; c++) {
      const [lo, hi] = laneRange(c), step = niceStep(hi - lo, 3), y = laneY(c);
      const lane = [];
      for (const v of yTicks(c)) {
        const yy = Math.round(y(v)) + 0.5, text = formatValue(v, step);
        ctx.beginPath(); ctx.moveTo(GUTTER_PX - 4, yy); ctx.lineTo(GUTTER_PX, yy); ctx.stroke();
        ctx.fillText(text, GUTTER_PX - 6, Math.min(Math.max(yy + 3, c * LANE_PX + 9),
          (c + 1) * LANE_PX - 2));
        lane.push(text);
      }
      texts.push(lane.join(" "));
      ctx.strokeStyle = "#ccc";
      ctx.beginPath(); ctx.moveTo(0, (c + 1) * LANE_PX - 0.5);
      ctx.lineTo(GUTTER_PX, (c + 1) * LANE_PX - 0.5); ctx.stroke();
      ctx.strokeStyle = "#333";
      const gain = gains[c] || 1;
      laneNames[c].textContent = `${meta.units[c] || ""}${gain !== 1 ? ` ×${gain}` : ""}`;
    }
    ctx.textAlign = "left";
    root.dataset.yTicks = JSON.stringify(texts);                    // for tests
  }

  function drawTrace(ctx) {
    const { i0, i1, n_cols: n, mode, values } = tile;
    const perCol = (i1 - i0) / n;
    for (let c = 0; c < nCh; c++) {
      const top = c * LANE_PX, y = laneY(c);
      ctx.save();
      ctx.beginPath(); ctx.rect(0, top, width, LANE_PX); ctx.clip();   // gain: stay in lane
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
      ctx.restore();
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
    drawPlayhead(ctx, SPEC_PX);
  }

  // Frequency axis beside the spectrogram: its rows are mel bands (centres in meta), so a
  // tick at f Hz sits where f falls between the two nearest band centres.
  function drawFreq() {
    const ctx = freqCv.getContext("2d"), hz = meta.spec_band_hz || [], texts = [];
    ctx.clearRect(0, 0, GUTTER_PX, SPEC_PX);
    if (hz.length < 2) return;
    ctx.font = "10px sans-serif";
    ctx.textAlign = "right";
    ctx.fillStyle = ctx.strokeStyle = "#333";
    const rowOf = (f) => {
      let k = 0;
      while (k < hz.length - 2 && hz[k + 1] < f) k++;
      return k + (f - hz[k]) / (hz[k + 1] - hz[k]);
    };
    const bandPx = SPEC_PX / hz.length;
    let lastY = Infinity;
    for (const f of [100, 200, 500, 1000, 2000, 4000, 8000, 16000]) {
      if (f < hz[0] || f > hz[hz.length - 1]) continue;
      const y = SPEC_PX - (rowOf(f) + 0.5) * bandPx;
      if (lastY - y < 12) continue;
      lastY = y;
      const text = f >= 1000 ? `${f / 1000} kHz` : `${f} Hz`;
      ctx.beginPath(); ctx.moveTo(GUTTER_PX - 4, y); ctx.lineTo(GUTTER_PX, y); ctx.stroke();
      ctx.fillText(text, GUTTER_PX - 6, Math.max(9, Math.min(SPEC_PX - 2, y + 3)));
      texts.push(text);
    }
    ctx.textAlign = "left";
    ctx.fillText("mel", 4, 12);
    root.dataset.freqTicks = texts.join(",");                          // for tests
  }

  // The model's strip: each predicted stretch in its class colour, a line for how sure the
  // model is (top: certain), the offered stretch outlined.
  function drawPred() {
    const pred = model.get("predictions") || {}, segs = pred.segments || [];
    predRow.style.display = segs.length ? "" : "none";
    root.dataset.predictions = String(segs.length);
    const sug = model.get("suggestion") || {};
    root.dataset.suggestion = sug.label ? `${sug.label}@${sug.free[0][0]}` : "";
    if (!segs.length) return;
    const ctx = predCv.getContext("2d"), h = PRED_PX;
    ctx.clearRect(0, 0, width, h);
    ctx.font = "10px sans-serif";
    for (const g of segs) {
      if (g.end_s < view.start || g.start_s > view.end) continue;
      const x0 = xOf(g.start_s), x1 = xOf(g.end_s);
      ctx.globalAlpha = 0.45;
      ctx.fillStyle = colorOf(g.label);
      ctx.fillRect(x0, 0, Math.max(1, x1 - x0), h);
      ctx.globalAlpha = 1;
      const text = x1 - x0 > 24 ? fitText(ctx, g.label, Math.min(x1, width) -
        Math.max(x0, 0) - 6) : "";
      if (text) { ctx.fillStyle = "#111"; ctx.fillText(text, Math.max(x0, 0) + 3, 10); }
    }
    ctx.strokeStyle = "#111";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    for (const [a, b, c] of pred.slots || []) {
      if (b < view.start || a > view.end) continue;
      const y = h - 1 - c * (h - 12);
      ctx.moveTo(xOf(a), y); ctx.lineTo(xOf(b), y);
    }
    ctx.stroke();
    drawSuggestion(ctx, h);
    const g = predGutterCv.getContext("2d");
    g.clearRect(0, 0, GUTTER_PX, h);
    g.font = "bold 11px sans-serif";
    g.fillStyle = "#222";
    g.fillText("model", 4, 12);
    g.font = "10px sans-serif";
    g.fillStyle = "#555";
    g.fillText("line: how sure", 4, 25);
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
    const ctx = axisCv.getContext("2d"), texts = [];
    ctx.clearRect(0, 0, width, AXIS_PX);
    const step = niceStep(view.end - view.start, width / 110);
    ctx.fillStyle = ctx.strokeStyle = "#444";
    ctx.font = "10px sans-serif";
    for (let k = Math.ceil(view.start / step); k * step <= view.end + 1e-9; k++) {
      const t = k * step, x = xOf(t), text = formatTime(t, step);
      ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, 5); ctx.stroke();
      ctx.fillText(text, x + 2, 15);
      texts.push(text);
    }
    if (playhead !== null && playhead >= view.start && playhead <= view.end) {
      const x = xOf(playhead);
      ctx.fillStyle = "#000";
      ctx.beginPath(); ctx.moveTo(x - 5, 0); ctx.lineTo(x + 5, 0); ctx.lineTo(x, 7);
      ctx.fill();
    }
    root.dataset.ticks = texts.join("|");                             // for tests
  }

  // -- the region list -------------------------------------------------------------------
  function buildList() {
    tbody.textContent = "";
    const regions = model.get("regions"), step = 0.01;
    for (const r of regions) {
      const tr = el("tr", "", tbody);
      tr.dataset.id = String(r.id);
      const cls = el("td", "emlab-list-class", tr);
      el("span", "emlab-swatch", cls).style.background = colorOf(r.label);
      cls.appendChild(document.createTextNode(r.label));
      el("td", "emlab-num", tr, formatTime(r.start_s, step));
      el("td", "emlab-num", tr, formatTime(r.end_s, step));
      el("td", "emlab-num", tr, `${(r.end_s - r.start_s).toFixed(2)} s`);
      const input = el("input", "emlab-note", el("td", "", tr));
      input.value = r.note || "";
      input.placeholder = "note…";
      input.addEventListener("change", () => {
        model.send({ type: "update", id: r.id, note: input.value });
      });
      input.addEventListener("keydown", (e) => {
        e.stopPropagation();                        // typing is not a widget shortcut
        if (e.key === "Enter") input.blur();
        if (e.key === "Escape") { input.value = r.note || ""; input.blur(); root.focus(); }
      });
      tr.addEventListener("click", (e) => {
        if (e.target === input) return;
        clearStatus();
        jumpTo(r);
        root.focus({ preventScroll: true });
      });
    }
    markListSelection();
  }
  function markListSelection() {
    const sel = String(model.get("selected_id"));
    for (const tr of tbody.children) {
      const on = tr.dataset.id === sel;
      tr.classList.toggle("emlab-sel", on);
      if (on && !tr.contains(document.activeElement)) tr.scrollIntoView({ block: "nearest" });
    }
  }
  function jumpTo(r) {
    select(r.id);
    const len = r.end_s - r.start_s;
    const span = Math.max(view.end - view.start < len * 1.2 ? len * 1.5 : view.end - view.start,
      minSpan);
    const mid = (r.start_s + r.end_s) / 2;
    setView(mid - span / 2, mid + span / 2);
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
  // Selecting a region makes its class the picker's: what the picker shows is the class of
  // what is selected, and the class the next new region gets.
  function select(id) {
    const r = model.get("regions").find((q) => q.id === id);
    model.set(r ? { selected_id: id, current_class: r.label } : { selected_id: id });
    model.save_changes();
  }
  function say(text) { status.textContent = text; }
  function clearStatus() { status.textContent = ""; }
  const localX = (e, cv) => e.clientX - cv.getBoundingClientRect().left;

  function onDown(e) {
    root.focus({ preventScroll: true });
    clearStatus();
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
    if (d.kind === "create" && !d.moved) {
      select(-1);
      if (isAudio || video.ready) seek(tOf(d.x0));
    } else if (d.kind === "create" && d.draft.end_s > d.draft.start_s) {
      if (!d.draft.label) say("pick a class first (buttons or keys 1–9)");
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
  // The time axis: drag to pan; a click without a drag sets the playhead (audio).
  function onAxis(e) {
    if (e.type === "pointerdown") {
      axisCv.setPointerCapture(e.pointerId);
      drag = { kind: "pan", x0: localX(e, axisCv), view0: { ...view }, moved: false };
    } else if (e.type === "pointermove" && drag && drag.kind === "pan") {
      const x = localX(e, axisCv);
      if (Math.abs(x - drag.x0) >= DRAG_PX) drag.moved = true;
      if (!drag.moved) return;
      const span = drag.view0.end - drag.view0.start;
      const shift = -((x - drag.x0) / width) * span;
      setView(drag.view0.start + shift, drag.view0.end + shift);
    } else if (e.type === "pointerup") {
      if (drag && drag.kind === "pan" && !drag.moved && (isAudio || video.ready)) {
        seek(tOf(drag.x0));
      }
      drag = null;
    }
  }
  // The model's strip: a click offers the predicted stretch under it (A then accepts it).
  function onPred(e) {
    clearStatus();
    model.send({ type: "suggest_at", t_s: tOf(localX(e, predCv)) });
    root.focus({ preventScroll: true });
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

  function pickClass(cls) {
    model.set("current_class", cls);
    model.save_changes();
    const sel = model.get("selected_id");
    if (sel >= 0) model.send({ type: "update", id: sel, label: cls });
    buildPicker();
  }

  function onKey(e) {
    const k = e.key, ctrl = e.ctrlKey || e.metaKey, sel = model.get("selected_id");
    if (e.target !== root) return;                 // typing a note or a class name
    const digit = /^Digit[1-9]$/.test(e.code) ? Number(e.code.slice(5)) : null;
    let handled = true;
    clearStatus();
    if (k === "ArrowLeft") pan(e.shiftKey ? -0.5 : -0.1);
    else if (k === "ArrowRight") pan(e.shiftKey ? 0.5 : 0.1);
    else if (k === "+" || k === "=") zoom(0.5);
    else if (k === "-" || k === "_") zoom(2);
    else if (k === "0") setView(0, duration);
    else if (digit !== null && !ctrl) {
      const n = digit + (e.shiftKey ? 9 : 0), cls = model.get("classes")[n - 1];
      if (cls === undefined) say(`no class ${n}: add one in the picker's "+ class" box`);
      else pickClass(cls);
    } else if ((k === "Delete" || k === "Backspace") && sel >= 0) {
      model.send({ type: "remove", id: sel });
    } else if (ctrl && (k === "z" || k === "Z")) {
      model.send({ type: e.shiftKey ? "redo" : "undo" });
    } else if (ctrl && (k === "y" || k === "Y")) model.send({ type: "redo" });
    else if (k === "Escape") {               // deselect, and back to playing the view
      select(-1);
      if (aligning) setAligning(false);
      else if (!(audio && audio.playing) && videoEl.paused) playhead = null;
      draw();
    }
    else if (k === "[") jumpRegion(-1);
    else if (k === "]") jumpRegion(1);
    else if (k === " " && video.ready) toggleVideo();
    else if (k === " " && isAudio) togglePlay();
    else if ((k === "v" || k === "V") && !ctrl) toggleAlign();
    else if ((k === "l" || k === "L") && isAudio) toggleLoop();
    else if ((k === "n" || k === "N") && !ctrl) model.send({ type: "next" });
    else if ((k === "a" || k === "A") && !ctrl) model.send({ type: "accept" });
    else handled = false;
    if (handled) { e.preventDefault(); e.stopPropagation(); }
  }

  // -- audio -----------------------------------------------------------------------------
  // What plays: the selected region, else from the playhead to the end of the view, else the
  // view. The playhead follows playback (on the traces and the spectrogram); with loop on,
  // the range repeats until stopped.
  function playRange() {
    const sel = model.get("regions").find((r) => r.id === model.get("selected_id"));
    if (sel) return [sel.start_s, sel.end_s];
    if (playhead !== null && playhead >= view.start && playhead < view.end - 1e-3) {
      return [playhead, view.end];
    }
    return [view.start, view.end];
  }
  function togglePlay() {
    if (audio && audio.playing) { audio.stopped = true; audio.source.stop(); return; }
    const [a, b] = playRange();
    model.send({ type: "play", start_s: a, end_s: b, loop });
  }
  function toggleLoop() {
    loop = !loop;
    root.dataset.loop = String(loop);
    if (loopBtn) loopBtn.classList.toggle("emlab-on", loop);
    if (audio && audio.playing) audio.source.loop = loop;
  }
  function seek(t) {
    playhead = Math.min(Math.max(t, 0), duration);
    if (audio && audio.playing) {                  // playing: go on from there
      audio.stopped = true;
      audio.source.stop();
      model.send({ type: "play", start_s: playhead, end_s: playRange()[1], loop });
    }
    if (!aligning) seekVideo();
    draw();
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
    source.loop = loop;
    source.connect(ctx.destination);
    const length = samples.length / msg.samplerate_hz;
    const mine = { ctx, source, playing: true, t0: ctx.currentTime, start_s: msg.start_s,
      length };
    audio = mine;
    root.dataset.playing = "true";
    if (playBtn) playBtn.textContent = "■";
    source.onended = () => {
      mine.playing = false;
      if (audio !== mine) return;                 // a seek started the next one already
      root.dataset.playing = "false";
      if (playBtn) playBtn.textContent = "▶";
      if (/^playing/.test(status.textContent)) clearStatus();   // no stale "playing" line
      draw();
    };
    if (ctx.state === "suspended") ctx.resume();
    source.start();
    let lastOffset = 0;
    const tick = () => {
      if (!mine.playing || audio !== mine) return;
      let offset = ctx.currentTime - mine.t0;
      if (source.loop) offset %= mine.length;
      if (offset < lastOffset) root.dataset.loops = String(++loops);  // wrapped: a new lap
      lastOffset = offset;
      playhead = mine.start_s + Math.min(offset, mine.length);
      root.dataset.playhead = playhead.toFixed(3);
      drawMain();
      if (specCv) drawSpec();
      drawAxis();
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  // -- video -----------------------------------------------------------------------------
  // Video time = recording time + offset. While the video is paused the playhead drives it
  // (a click; a pan that leaves the playhead outside the view puts it at the view's centre);
  // while the video plays, or is scrubbed by its own controls, it drives the playhead and the
  // view follows. While aligning neither drives the other: the user pauses the video at an
  // event, clicks the same event in the signal, and Python sets the offset from the two.
  const offsetS = () => model.get("video_offset_s") || 0;
  const fmtOffset = () => `${offsetS() >= 0 ? "+" : ""}${offsetS().toFixed(2)} s`;
  function setVideoState(state, note) {
    root.dataset.video = state;
    videoNote.textContent = note || "";
  }
  function loadVideo() {
    const info = model.get("video_info") || {};
    if (video.url) URL.revokeObjectURL(video.url);
    videoEl.pause();
    videoEl.removeAttribute("src");
    video = { serial: info.serial || 0, url: null, chunks: [], ready: false, ownSeek: null,
      info };
    side.classList.toggle("emlab-has-video", Boolean(info.serial));
    videoBox.style.display = alignBtn.style.display = info.serial ? "" : "none";
    if (aligning) setAligning(false);
    if (!info.serial) { setVideoState("none"); return; }
    setVideoState("loading", `loading ${info.name}…`);
    model.send({ type: "video_chunk", serial: info.serial, index: 0 });
  }
  // One chunk arrived: ask for the next, or play the whole file from a blob URL.
  function onVideoChunk(msg, buffers) {
    if (msg.serial !== video.serial || msg.index !== video.chunks.length) return;
    video.chunks.push(buffers[0]);
    const n = video.info.n_chunks, got = video.chunks.length;
    if (got < n) {
      setVideoState("loading", `loading ${video.info.name}… ${Math.round((100 * got) / n)}%`);
      model.send({ type: "video_chunk", serial: video.serial, index: got });
      return;
    }
    video.url = URL.createObjectURL(new Blob(video.chunks, { type: video.info.mime }));
    video.chunks = [];
    videoEl.src = video.url;
  }
  function onVideoMeta() {
    video.ready = true;
    setVideoState("ready", `${video.info.name} · offset ${fmtOffset()} (video − recording)`);
    if (playhead === null) playhead = (view.start + view.end) / 2;
    seekVideo();
    layout(true);
    draw();
  }
  function onVideoError() {
    if (!video.serial || !videoEl.getAttribute("src")) return;   // unloaded on purpose
    video.ready = false;
    const info = video.info, code = videoEl.error ? videoEl.error.code : 0;
    const why = code === 4 ? "its format or codec is not supported here" : "it is damaged";
    setVideoState("error", `cannot play ${info.name}: ${why}; ${info.remedy}`);
    say(videoNote.textContent);
  }
  // The playhead moves the paused video (or a playing one, which goes on from there).
  function seekVideo() {
    if (!video.ready || playhead === null || aligning) return;
    const d = videoEl.duration || 0, t = playhead + offsetS();
    root.dataset.videoOutside = String(t < 0 || t > d);   // no picture for this time
    const target = Math.min(Math.max(t, 0), d);
    if (Math.abs(videoEl.currentTime - target) < 1e-3) return;
    video.ownSeek = target;
    videoEl.currentTime = target;
  }
  // The view moved away from the playhead: scrub the paused video to the view's centre.
  function scrubWithView() {
    if (!video.ready || aligning || !videoEl.paused) return;
    if (playhead !== null && playhead >= view.start && playhead <= view.end) return;
    playhead = (view.start + view.end) / 2;
    seekVideo();
  }
  // The video moved (playing, or its own scrubber): the playhead, and the view, follow.
  function followVideo() {
    const t = Math.min(Math.max(videoEl.currentTime - offsetS(), 0), duration);
    root.dataset.videoTime = videoEl.currentTime.toFixed(3);
    playhead = t;
    root.dataset.playhead = t.toFixed(3);
    if (t < view.start || t > view.end) {
      const span = view.end - view.start;
      setView(t - 0.1 * span, t + 0.9 * span);
    }
    drawMain();
    if (specCv) drawSpec();
    drawAxis();
  }
  function onVideoSeeked() {
    const own = video.ownSeek !== null && Math.abs(videoEl.currentTime - video.ownSeek) < 0.05;
    video.ownSeek = null;
    root.dataset.videoTime = videoEl.currentTime.toFixed(3);
    root.dataset.videoSeeks = String(Number(root.dataset.videoSeeks || 0) + 1);  // for tests
    if (!own && !aligning) followVideo();
  }
  function onVideoPlay() {
    root.dataset.videoPlaying = "true";
    const tick = () => {
      if (videoEl.paused) return;
      if (!aligning) followVideo();
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }
  function onVideoPause() {
    if (!aligning) followVideo();
    root.dataset.videoPlaying = "false";
  }
  function toggleVideo() {
    if (!videoEl.paused) { videoEl.pause(); return; }
    if (aligning) setAligning(false);
    videoEl.play().catch((e) => say(`the video would not play: ${e.message}`));
  }
  function setAligning(on) {
    aligning = on;
    root.dataset.aligning = String(on);
    alignBtn.classList.toggle("emlab-on", on);
  }
  // V / the align button: first press starts aligning, the second sends the two times.
  function toggleAlign() {
    if (!video.ready) {
      say("no video to align: pass video='clip.webm' to eml.label, or set w.video");
    } else if (!aligning) {
      videoEl.pause();
      setAligning(true);
      say("aligning: pause the video at an event you can see, click the same event in the " +
        "signal, then press V (or ⇄ align) again; Esc cancels");
    } else if (playhead === null) {
      say("click the event in the signal first, then press V again");
    } else {
      model.send({ type: "align", video_s: videoEl.currentTime, signal_s: playhead });
      setAligning(false);
    }
  }
  function onOffset() {
    if (!video.ready) return;
    setVideoState("ready", `${video.info.name} · offset ${fmtOffset()} (video − recording)`);
    if (videoEl.paused) seekVideo(); else followVideo();
  }

  // -- wiring ----------------------------------------------------------------------------
  function buildPicker() {
    picker.textContent = "";
    const current = model.get("current_class");
    scaleSel.value = model.get("y_scale");
    model.get("classes").forEach((cls, i) => {
      const key = i < 9 ? `${i + 1} ` : i < 18 ? `⇧${i - 8} ` : "";
      const b = el("button", "emlab-class" + (cls === current ? " emlab-current" : ""),
        picker, `${key}${cls}`);
      b.style.borderColor = colorOf(cls);
      b.dataset.cls = cls;
      b.title = key ? `key ${key.trim()}` : "click to pick";
      on(b, "click", () => { clearStatus(); pickClass(cls); root.focus(); });
    });
    const add = el("input", "emlab-newclass", picker);
    add.placeholder = "+ class";
    add.title = "type a new class name and press Enter";
    add.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter" && add.value.trim()) {
        clearStatus();
        model.send({ type: "add_class", name: add.value.trim() });
        add.value = "";
        root.focus();
      } else if (e.key === "Escape") { add.value = ""; root.focus(); }
    });
    root.dataset.current = current;                              // for tests
  }
  function onMessage(msg, buffers) {
    if (msg.type === "tile") onTile(msg, buffers);
    else if (msg.type === "audio") onAudio(msg, buffers);
    else if (msg.type === "video_chunk") onVideoChunk(msg, buffers);
  }
  function onViewTrait() {
    if (adoptingView) return;
    setView(model.get("view_start_s"), model.get("view_end_s"), true);
  }
  const redraw = () => draw();
  const showMessage = () => { status.textContent = model.get("message"); };
  const onRegions = () => { buildList(); buildPicker(); draw(); };
  const onSelected = () => { markListSelection(); buildPicker(); draw(); };
  const onScale = () => { scaleSel.value = model.get("y_scale"); draw(); };
  function setGain(c, factor) {
    const gains = (model.get("channel_gain") || []).slice();
    while (gains.length < nCh) gains.push(1);
    gains[c] = Math.min(64, Math.max(1 / 64, (gains[c] || 1) * factor));
    model.set("channel_gain", gains);
    model.save_changes();
    draw();
  }
  model.on("msg:custom", onMessage);
  model.on("change:regions", onRegions);
  model.on("change:selected_id", onSelected);
  model.on("change:y_scale", onScale);
  model.on("change:channel_gain", redraw);
  model.on("change:predictions", redraw);
  model.on("change:suggestion", redraw);
  model.on("change:can_undo", redraw);
  model.on("change:can_redo", redraw);
  model.on("change:classes", onRegions);
  model.on("change:current_class", buildPicker);
  model.on("change:message_id", showMessage);
  model.on("change:view_start_s", onViewTrait);
  model.on("change:view_end_s", onViewTrait);
  model.on("change:video_info", loadVideo);
  model.on("change:video_offset_s", onOffset);
  on(videoEl, "loadedmetadata", onVideoMeta);
  on(videoEl, "error", onVideoError);
  on(videoEl, "seeked", onVideoSeeked);
  on(videoEl, "play", onVideoPlay);
  on(videoEl, "pause", onVideoPause);

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
  on(predCv, "click", onPred);
  on(root, "keydown", onKey);
  buildPicker();
  buildList();
  showMessage();
  const resizer = new ResizeObserver(() => layout());
  resizer.observe(plot);
  layout();
  loadVideo();

  return () => {                                  // anywidget calls this when the view goes
    resizer.disconnect();
    listeners.forEach((off) => off());
    model.off("msg:custom", onMessage);
    for (const name of ["can_undo", "can_redo", "channel_gain", "predictions", "suggestion"]) {
      model.off(`change:${name}`, redraw);
    }
    model.off("change:regions", onRegions);
    model.off("change:selected_id", onSelected);
    model.off("change:y_scale", onScale);
    model.off("change:classes", onRegions);
    model.off("change:current_class", buildPicker);
    model.off("change:message_id", showMessage);
    model.off("change:view_start_s", onViewTrait);
    model.off("change:view_end_s", onViewTrait);
    model.off("change:video_info", loadVideo);
    model.off("change:video_offset_s", onOffset);
    videoEl.pause();
    if (video.url) URL.revokeObjectURL(video.url);
    if (viewSaveTimer) clearTimeout(viewSaveTimer);
    if (audio && audio.playing) audio.source.stop();
    if (audio) audio.ctx.close();
  };
}

export default { render };
