// Live comparison view (anywidget ESM). Python decides what is drawn (the latest items, the
// running agreement, every axis range, the status line) and sends it as little-endian
// float32 bytes ("frame", laid out as "frame_layout" says) plus small JSON; this view draws it on
// canvas and reports two gestures, start and stop.
//
// frame: x[k] (item index), points[m] (item index of each agreement point), then per model
//   host[k], device[k] (class index or regressor value), agree[k] (1/0), us[k],
//   truth[k] (the true class index, -1 unknown; only when layout.truth; detectors: 1 where
//   the device's decision is the true label, 0 where not), curve[m].
// A detector ("anomaly") draws its score (host line, device marks) and its threshold.

const HOST = "rgba(120,120,120,0.45)", DEVICE = "#1f77b4", BAD = "#d62728";
const GOOD = "#2ca02c", GRID = "#e6e6e6", TEXT = "#555", SLOW = "#ff7f0e", TRUTH = "#222";
const TIMELINE_PX = 120, AGREE_PX = 70, LATENCY_PX = 90, TRUTH_PX = 34;
const PAD = { l: 66, r: 8, t: 8, b: 16 };   // left: room for a 10-letter class name
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function float32s(view, at, n) {
  if (LITTLE_ENDIAN) {
    return new Float32Array(view.buffer.slice(view.byteOffset + 4 * at,
      view.byteOffset + 4 * (at + n)));
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * (at + i), true);
  return out;
}

function el(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function fmt(v, digits) {
  return v === null || v === undefined ? "–" : v.toFixed(digits);
}

function decode(view, layout) {
  const k = layout.k, m = layout.m;
  const perModel = (layout.truth ? 5 : 4) * k + m;
  const need = 4 * (k + m + layout.models.length * perModel);
  if (!view || view.byteLength < need) return null;
  let at = 0;
  const take = (n) => { const a = float32s(view, at, n); at += n; return a; };
  const out = { x: take(k), points: take(m), models: [] };
  for (let i = 0; i < layout.models.length; i++) {
    out.models.push({ host: take(k), device: take(k), agree: take(k), us: take(k),
      truth: layout.truth ? take(k) : null, curve: take(m) });
  }
  return out;
}

function render({ model, el: host }) {
  const root = el("div", "emlab-live", host);
  const bar = el("div", "emlab-live-bar", root);
  const startBtn = el("button", "emlab-live-btn", bar, "▶ start");
  const stopBtn = el("button", "emlab-live-btn", bar, "■ stop");
  const status = el("span", "emlab-live-status", bar);
  const grid = el("div", "emlab-live-models", root);
  root.dataset.draws = "0";
  let panels = [], key = "";

  startBtn.title = "start, or resume where it stopped";
  stopBtn.title = "stop after the batch in progress";
  const onStart = () => model.send({ type: "start" });
  const onStop = () => model.send({ type: "stop" });
  startBtn.addEventListener("click", onStart);
  stopBtn.addEventListener("click", onStop);

  function size(cv, w, h) {
    const dpr = window.devicePixelRatio || 1;
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
      cv.width = Math.round(w * dpr);
      cv.height = Math.round(h * dpr);
      cv.style.width = `${w}px`;
      cv.style.height = `${h}px`;
    }
    const ctx = cv.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "10px system-ui, sans-serif";
    return ctx;
  }

  // A legend entry: a coloured mark and what it means (the same colours as the canvas).
  function legend(parent, entries) {
    const box = el("div", "emlab-live-legend", parent);
    for (const [mark, colour, text] of entries) {
      const item = el("span", "emlab-live-legend-item", box);
      el("span", "emlab-live-legend-mark", item, mark).style.color = colour;
      el("span", "", item, text);
    }
    return box;
  }

  function ensurePanels(layout) {
    const k = layout.models.map((m) => m.label).join("\u0000") + (layout.truth ? "|t" : "");
    if (k === key) return;
    key = k;
    grid.replaceChildren();
    panels = layout.models.map((m) => {
      const box = el("div", "emlab-live-model", grid);
      const head = el("div", "emlab-live-head", box);
      el("div", "emlab-live-label", head, m.label);
      const stats = el("div", "emlab-live-stats", head);
      el("div", "emlab-live-caption", box, m.kind === "anomaly"
        ? "score: host (grey) vs device (blue); below the dashed threshold: anomaly"
        : "prediction: host (grey) vs device (blue)" +
          (layout.truth ? "; true label: black outline" : ""));
      const timeline = el("canvas", "emlab-live-timeline", box);
      let truth = null, truthCaption = null;
      if (layout.truth) {
        truthCaption = el("div", "emlab-live-caption emlab-live-truth-caption", box);
        truth = el("canvas", "emlab-live-truth", box);
      }
      el("div", "emlab-live-caption", box, "running agreement, host vs device (not accuracy)");
      const agree = el("canvas", "emlab-live-agree", box);
      el("div", "emlab-live-caption", box, "device µs per prediction");
      const latency = el("canvas", "emlab-live-latency", box);
      legend(box, [["■", DEVICE, "one prediction"], ["- -", SLOW, "median"],
        ["▲", SLOW, "slower than the axis top (e.g. a garbage collection)"]]);
      return { box, stats, timeline, truth, truthCaption, agree, latency };
    });
  }

  function frame(ctx, w, h, yLabels) {
    ctx.strokeStyle = GRID;
    ctx.lineWidth = 1;
    ctx.strokeRect(PAD.l + 0.5, PAD.t + 0.5, w - PAD.l - PAD.r - 1, h - PAD.t - PAD.b - 1);
    ctx.fillStyle = TEXT;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const [y, text] of yLabels) ctx.fillText(text, PAD.l - 4, y);
  }

  // The x axis's two end labels, as Python wrote them (times in a recording, or items).
  function xAxis(ctx, w, h, labels) {
    ctx.fillStyle = TEXT;
    ctx.textBaseline = "bottom";
    ctx.textAlign = "left";
    ctx.fillText(labels[0], PAD.l, h);
    ctx.textAlign = "right";
    ctx.fillText(labels[1], w - PAD.r, h);
  }

  function drawTimeline(cv, w, layout, info, d, data) {
    const h = TIMELINE_PX, ctx = size(cv, w, h);
    const [x0, x1] = layout.x, [y0, y1] = info.y;
    const X = (i) => PAD.l + ((i - x0) / Math.max(x1 - x0, 1)) * (w - PAD.l - PAD.r);
    const Y = (v) => h - PAD.b - ((v - y0) / (y1 - y0)) * (h - PAD.t - PAD.b);
    const labels = [];
    if (info.kind === "classifier") {
      const n = info.classes.length, every = Math.max(1, Math.ceil(n / 6));
      for (let c = 0; c < n; c += every) labels.push([Y(c), info.classes[c].length > 10 ? info.classes[c].slice(0, 9) + "…" : info.classes[c]]);
    } else {
      labels.push([Y(y1), y1.toPrecision(3)], [Y(y0), y0.toPrecision(3)]);
    }
    frame(ctx, w, h, labels);
    const k = data.x.length;
    ctx.save();                            // marks stay inside the plot, off the class names
    ctx.beginPath();
    ctx.rect(PAD.l, 0, w - PAD.l - PAD.r, h);
    ctx.clip();
    if (info.kind === "classifier") {      // the host's class: a grey bar per item
      const bw = Math.max(2, (w - PAD.l - PAD.r) / Math.max(x1 - x0, 1));
      ctx.fillStyle = HOST;
      for (let i = 0; i < k; i++) {
        ctx.fillRect(X(data.x[i]) - bw / 2, Y(d.host[i]) - 4, bw, 8);
      }
    } else {                               // a regressor's value: a grey line
      ctx.strokeStyle = HOST;
      ctx.lineWidth = 3;
      ctx.beginPath();
      for (let i = 0; i < k; i++) {
        const x = X(data.x[i]), y = Y(d.host[i]);
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      }
      ctx.stroke();
      if (info.threshold !== null && info.threshold !== undefined && isFinite(info.threshold)) {
        ctx.strokeStyle = TRUTH;             // below the dashed line: flagged as anomalies
        ctx.lineWidth = 1;
        ctx.setLineDash([4, 3]);
        const ty = Math.round(Y(info.threshold)) + 0.5;   // on a pixel row: crisp
        ctx.beginPath();
        ctx.moveTo(PAD.l, ty);
        ctx.lineTo(w - PAD.r, ty);
        ctx.stroke();
        ctx.setLineDash([]);
      }
    }
    const r = k > 200 ? 1.5 : 2.5;
    if (d.truth && info.kind === "classifier") {                         // the true class: a dark outline per item
      ctx.strokeStyle = TRUTH;
      ctx.lineWidth = 1;
      for (let i = 0; i < k; i++) {
        if (d.truth[i] >= 0) ctx.strokeRect(X(data.x[i]) - r - 1.5, Y(d.truth[i]) - r - 1.5,
          2 * r + 3, 2 * r + 3);
      }
    }
    for (let i = 0; i < k; i++) {
      const x = X(data.x[i]);
      if (d.agree[i] > 0.5) {
        ctx.fillStyle = DEVICE;
        ctx.fillRect(x - r, Y(d.device[i]) - r, 2 * r, 2 * r);
      } else {
        ctx.strokeStyle = BAD;
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(x, PAD.t);
        ctx.lineTo(x, h - PAD.b);
        ctx.stroke();
        ctx.fillStyle = BAD;
        ctx.fillRect(x - r - 1, Y(d.device[i]) - r - 1, 2 * r + 2, 2 * r + 2);
      }
    }
    ctx.restore();
    xAxis(ctx, w, h, layout.x_labels);
  }

  // Ground truth: per item, green where the device's class is the true label, red where
  // not, nothing where the label is unknown.
  function drawTruth(cv, w, layout, info, d, data) {
    const h = TRUTH_PX, ctx = size(cv, w, h);
    const [x0, x1] = layout.x;
    const X = (i) => PAD.l + ((i - x0) / Math.max(x1 - x0, 1)) * (w - PAD.l - PAD.r);
    frame(ctx, w, h, [[(h - PAD.b + PAD.t) / 2, "vs labels"]]);
    const bw = Math.max(1, (w - PAD.l - PAD.r) / Math.max(x1 - x0, 1) - 0.5);
    for (let i = 0; i < data.x.length; i++) {
      if (d.truth[i] < 0) continue;
      const right = info.kind === "anomaly" ? d.truth[i] === 1 : d.truth[i] === d.device[i];
      ctx.fillStyle = right ? GOOD : BAD;
      ctx.fillRect(X(data.x[i]) - bw / 2, PAD.t + 1, bw, h - PAD.t - PAD.b - 2);
    }
    xAxis(ctx, w, h, layout.x_labels);
  }

  function drawAgreement(cv, w, layout, d, data) {
    const h = AGREE_PX, ctx = size(cv, w, h), lo = layout.agree_lo;
    const n = Math.max(layout.x[1], 1);
    const X = (i) => PAD.l + (i / Math.max(n - 1, 1)) * (w - PAD.l - PAD.r);
    const Y = (v) => h - PAD.b - ((v - lo) / (1 - lo)) * (h - PAD.t - PAD.b);
    frame(ctx, w, h, [[Y(1), "100%"], [Y(lo), `${Math.round(lo * 100)}%`]]);
    const m = data.points.length;
    if (m) {
      const last = d.curve[m - 1];
      ctx.strokeStyle = last >= 1 ? GOOD : BAD;
      ctx.lineWidth = 2;
      ctx.beginPath();
      for (let i = 0; i < m; i++) {
        const x = X(data.points[i]), y = Y(d.curve[i]);
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      }
      if (m === 1) ctx.lineTo(X(data.points[0]) + 2, Y(d.curve[0]));
      ctx.stroke();
    }
    xAxis(ctx, w, h, layout.curve_labels);
  }

  function drawLatency(cv, w, layout, info, d, data) {
    const h = LATENCY_PX, ctx = size(cv, w, h), top = layout.us_max;
    const [x0, x1] = layout.x;
    const X = (i) => PAD.l + ((i - x0) / Math.max(x1 - x0, 1)) * (w - PAD.l - PAD.r);
    const Y = (v) => h - PAD.b - (Math.min(v, top) / top) * (h - PAD.t - PAD.b);
    frame(ctx, w, h, [[Y(top), `${top >= 10 ? Math.round(top) : top.toPrecision(2)} µs`],
      [Y(0), "0"]]);
    for (let i = 0; i < data.x.length; i++) {
      const x = X(data.x[i]);
      if (d.us[i] > top) {                 // off the scale: a triangle at the top
        ctx.fillStyle = SLOW;
        ctx.beginPath();
        ctx.moveTo(x, PAD.t);
        ctx.lineTo(x - 3, PAD.t + 5);
        ctx.lineTo(x + 3, PAD.t + 5);
        ctx.fill();
      } else {
        ctx.fillStyle = DEVICE;
        ctx.fillRect(x - 1, Y(d.us[i]) - 1, 2, 2);
      }
    }
    if (info.us_median !== null) {
      ctx.strokeStyle = SLOW;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(PAD.l, Y(info.us_median));
      ctx.lineTo(w - PAD.r, Y(info.us_median));
      ctx.stroke();
      ctx.setLineDash([]);
    }
    xAxis(ctx, w, h, layout.x_labels);
  }

  function drawStatus() {
    const s = model.get("status") || {};
    status.textContent = s.text || "";
    root.dataset.state = s.state || "";
    root.dataset.items = String(s.n || 0);
    const active = s.state === "running" || s.state === "disconnected";
    startBtn.disabled = active;
    stopBtn.disabled = !active;
    status.className = `emlab-live-status emlab-live-${s.state}`;
  }

  function draw() {
    const layout = model.get("frame_layout");
    drawStatus();
    if (!layout || !layout.models) return;
    ensurePanels(layout);
    const data = decode(model.get("frame"), layout);
    if (!data) return;
    layout.models.forEach((info, i) => {
      const p = panels[i], d = data.models[i];
      const w = Math.max(160, Math.floor(p.box.clientWidth || 320));
      const agree = info.agreement === null ? "–" : `${fmt(100 * info.agreement, 1)}% agree`;
      p.stats.textContent = `${agree} · ${info.n} items · device ${fmt(info.us_median, 0)} ` +
        `µs median, ${fmt(info.us_p95, 0)} µs p95 · ${info.form}`;
      p.stats.classList.toggle("emlab-live-bad", info.disagreements > 0);
      drawTimeline(p.timeline, w, layout, info, d, data);
      if (p.truth && d.truth) {
        drawTruth(p.truth, w, layout, info, d, data);
        p.truthCaption.textContent = info.accuracy === null ? "true labels: none known yet" :
          `device vs true labels: ${fmt(100 * info.accuracy, 1)}% correct of ${info.n_truth}`;
      }
      drawAgreement(p.agree, w, layout, d, data);
      drawLatency(p.latency, w, layout, info, d, data);
    });
    root.dataset.agreement = layout.models.map((m) => m.agreement === null ? "" :
      m.agreement.toFixed(4)).join(",");
    root.dataset.accuracy = layout.models.map((m) => m.accuracy === null ||
      m.accuracy === undefined ? "" : m.accuracy.toFixed(4)).join(",");
    root.dataset.usMax = String(layout.us_max);
    root.dataset.xLabels = layout.x_labels.join(" – ");
    root.dataset.draws = String(Number(root.dataset.draws) + 1);
  }

  model.on("change:frame", draw);
  model.on("change:status", drawStatus);
  let resizeTimer = null;
  const observer = new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(draw, 100);
  });
  observer.observe(root);
  draw();

  return () => {
    model.off("change:frame", draw);
    model.off("change:status", drawStatus);
    observer.disconnect();
    clearTimeout(resizeTimer);
    startBtn.removeEventListener("click", onStart);
    stopBtn.removeEventListener("click", onStop);
  };
}

export default { render };
