// The browser half of ui/charts/live_chart.py: one chart per element, grown with the points
// Python sends and drawn on a canvas by live_canvas.js; the protocol is described in that
// module's docstring.

let drawChart = null; // live_canvas.js's, given by the loader (its URL carries its version)

/** Use draw (live_canvas.js's drawChart) for the charts of this page. */
export function useRenderer(draw) {
  drawChart = draw;
}

// one per page, however many charts and however often Streamlit re-imports this module
const page = (window.__liveLines ??= { charts: new Set() });
page.charts ??= new Set(); // a page that loaded an older copy of this module

// A chart nobody can see draws nothing: in a background tab (document.hidden) or scrolled out
// of view it keeps the points that arrive and draws them, in one go, when it is seen again.
if (!page.listening) {
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) page.charts.forEach((chart) => paint(chart));
  });
  page.listening = true;
}

function themeColors(element) {
  const css = getComputedStyle(element);
  const read = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const background = read("--st-background-color", "#ffffff");
  // Streamlit's chart greys (its CustomTheme.tsx): grid, ticks and titles, legend text
  const [faint, muted, strong] = isLight(background)
    ? ["#e6eaf1", "#808495", "#262730"]
    : ["#31333F", "#e6eaf1", "#fafafa"];
  return {
    background,
    faint,
    muted,
    strong,
    border: read("--st-border-color", "rgba(49,51,63,0.2)"),
    font: read("--st-font", "sans-serif"),
  };
}

function isLight(color) {
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(color);
  const digits = hex ? hex.slice(1).map((h) => parseInt(h, 16)) : color.match(/\d+/g) ?? [255];
  const rgb = digits.slice(0, 3);
  return rgb.reduce((sum, c) => sum + Number(c), 0) / rgb.length > 127;
}

// numbers come as little-endian base64 (NaN is a gap), anything else as a plain list
function decoded(values) {
  if (Array.isArray(values)) return values;
  const [type, text] = Object.entries(values)[0];
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return Array.from(type === "i4" ? new Int32Array(bytes.buffer) : new Float64Array(bytes.buffer));
}

export function newChart(parentElement, mount) {
  const div = document.createElement("div");
  div.className = "live-lines";
  div.style.width = "100%";
  const canvas = document.createElement("canvas");
  canvas.setAttribute("role", "img");
  canvas.style.display = "block";
  canvas.style.touchAction = "pan-y"; // a finger on the chart still scrolls the page
  div.appendChild(canvas);
  parentElement.appendChild(div);
  const stats = { payloads: 0, reacts: 0, extends: 0, afterplots: 0, reports: 0, deferred: 0 };
  stats.width = 0; // the width last drawn at
  div.liveLines = stats; // the browser tests and benches read these
  const chart = { div, canvas, mount, stats, gen: null, counts: [], seq: 0 };
  Object.assign(chart, { traces: null, stale: false, pending: new Map(), inView: true, hover: null });
  let frame = 0;
  // a chart in a hidden tab waits: it draws, at its tab's width, when it shows
  const observer = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => paint(chart, true));
  });
  observer.observe(div);
  // the same for a chart scrolled out of view (below the fold on a small screen)
  const sight = new IntersectionObserver((entries) => {
    chart.inView = entries[entries.length - 1].isIntersecting;
    if (chart.inView) paint(chart);
  });
  sight.observe(div);
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    chart.hover = { x: event.clientX - box.left, y: event.clientY - box.top };
    paint(chart, true);
  };
  const leave = () => {
    chart.hover = null;
    paint(chart, true);
  };
  canvas.addEventListener("pointermove", point);
  canvas.addEventListener("pointerdown", point);
  canvas.addEventListener("pointerleave", leave);
  page.charts.add(chart);
  chart.cleanup = () => {
    observer.disconnect();
    sight.disconnect();
    page.charts.delete(chart);
    cancelAnimationFrame(frame);
  };
  return chart;
}

function report(chart, payload) {
  const ack = payload.ack || [];
  if (chart.seq > 0 && !(ack[0] === chart.mount && ack[1] >= chart.seq)) return; // not read yet
  chart.seq += 1;
  chart.stats.reports += 1;
  const { mount, seq, gen, counts } = chart;
  chart.setStateValue?.("have", { mount, seq, gen, counts }); // none in the fed view
}

// draw what changed, if the chart can be seen: after a whole figure, new points or a resize
function paint(chart, redraw = false) {
  const { div, pending } = chart;
  if (!chart.traces || div.offsetParent === null) return;
  if (document.hidden || !chart.inView) {
    chart.stats.deferred += 1;
    return;
  }
  const grown = pending.size > 0;
  for (const [i, points] of pending) {
    const trace = chart.traces[i];
    Object.assign(trace, { x: trace.x.concat(points.x), y: trace.y.concat(points.y) });
  }
  pending.clear();
  const resized = div.clientWidth !== chart.stats.width;
  if (!chart.stale && !grown && !redraw && !resized) return;
  chart.stats.width = drawChart(chart);
  div.data = chart.traces; // what is drawn, as a plotly graph div holds it
  if (chart.stale) chart.stats.reacts += 1;
  else if (grown) chart.stats.extends += 1;
  chart.stats.afterplots += 1;
  chart.stale = false;
}

export function apply(chart, payload) {
  chart.stats.payloads += 1;
  const { div } = chart;
  if (payload.height && div.style.height !== `${payload.height}px`) {
    div.style.height = `${payload.height}px`;
  }
  const colors = themeColors(div);
  if (payload.traces && payload.gen !== chart.gen) {
    const traces = payload.traces.map((t) => ({ ...t, x: decoded(t.x), y: decoded(t.y) }));
    Object.assign(chart, { colors, traces, layout: payload.layout, gen: payload.gen, stale: true });
    chart.counts = traces.map((t) => t.x.length);
    chart.pending.clear();
    paint(chart);
    return;
  }
  if (payload.gen !== chart.gen) {
    report(chart, payload); // a new mount, or a full figure that never arrived
    return;
  }
  // Streamlit's theme changed (it then calls us again with the same data)
  if (JSON.stringify(colors) !== JSON.stringify(chart.colors)) {
    Object.assign(chart, { colors, stale: true });
  }
  let gap = false;
  (payload.start ?? []).forEach((start, i) => {
    const overlap = chart.counts[i] - start;
    const x = decoded(payload.x[i]);
    if (overlap < 0) {
      gap = true;
    } else if (x.length > overlap) {
      const points = chart.pending.get(i) ?? { x: [], y: [] };
      points.x = points.x.concat(x.slice(overlap));
      points.y = points.y.concat(decoded(payload.y[i]).slice(overlap));
      chart.pending.set(i, points);
      chart.counts[i] += x.length - overlap;
    }
  });
  paint(chart);
  if (gap) report(chart, payload);
}

function showError(chart, error) {
  chart.canvas.remove();
  chart.div.textContent = `Live chart: ${error.message}`;
  chart.div.style.color = "#ff4b4b";
  chart.gen = null; // the next payload asks for the whole figure again
}

export function render(component, draw) {
  drawChart = draw;
  const { data, key, parentElement } = component;
  const chart = (parentElement.__liveLines ??= newChart(parentElement, key));
  chart.setStateValue = component.setStateValue;
  const payload = data instanceof Uint8Array ? JSON.parse(new TextDecoder().decode(data)) : data;
  try {
    if (!chart.div.contains(chart.canvas)) chart.div.replaceChildren(chart.canvas);
    chart.div.style.color = "";
    apply(chart, payload);
  } catch (error) {
    showError(chart, error);
  }
  return chart.cleanup;
}
