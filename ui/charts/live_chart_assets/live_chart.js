// The browser half of ui/charts/live_chart.py: one plotly figure per chart, grown with the points
// Python sends; the protocol is described in that module's docstring.

const CONFIG = { displayModeBar: false, displaylogo: false };
// one per page, however many charts and however often Streamlit re-imports this module
const page = (window.__liveLines ??= { plotly: null, charts: new Set() });
page.charts ??= new Set(); // a page that loaded an older copy of this module

// A chart nobody can see draws nothing: in a background tab (document.hidden) or scrolled out
// of view it keeps the points that arrive and draws them, in one go, when it is seen again.
if (!page.listening) {
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) page.charts.forEach((chart) => repaint(chart));
  });
  page.listening = true;
}

function repaint(chart, resized = false) {
  chart.queue = chart.queue.then(() => paint(chart, window.Plotly, resized)).catch(() => {});
}

function loadPlotly(url) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  page.plotly ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = url;
    script.onload = () => resolve(window.Plotly);
    script.onerror = () => {
      page.plotly = null; // the next payload tries again
      script.remove();
      reject(new Error(`could not load plotly.js from ${url}`));
    };
    document.head.appendChild(script);
  });
  return page.plotly;
}

function themeColors(element) {
  const css = getComputedStyle(element);
  const read = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return {
    background: read("--st-background-color", "#ffffff"),
    border: read("--st-border-color", "rgba(49,51,63,0.2)"),
    font: read("--st-font", "sans-serif"),
    headingColor: read("--st-heading-color", "#31333f"),
    headingFont: read("--st-heading-font", "sans-serif"),
    colorway: read("--st-chart-categorical-colors", ""),
  };
}

function isLight(color) {
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(color);
  const digits = hex ? hex.slice(1).map((h) => parseInt(h, 16)) : color.match(/\d+/g) ?? [255];
  const rgb = digits.slice(0, 3);
  return rgb.reduce((sum, c) => sum + Number(c), 0) / rgb.length > 127;
}

// The template st.plotly_chart applies (Streamlit's CustomTheme.tsx): greys by background,
// 12 px ticks and legend, 14 px axis titles, a y grid only. A template, so the caller's layout
// (ui/charts/figures.py's 13 px font, margins) wins where it says something.
function streamlitTemplate(colors) {
  const light = isLight(colors.background);
  const [faint, muted, strong] = light
    ? ["#e6eaf1", "#808495", "#262730"]
    : ["#31333F", "#e6eaf1", "#fafafa"];
  const axis = (standoff) => ({
    zerolinecolor: faint,
    gridcolor: faint,
    tickcolor: faint,
    tickfont: { color: muted, size: 12 },
    title: { font: { color: muted, size: 14 }, standoff },
    minor: { gridcolor: faint },
    automargin: true,
  });
  const layout = {
    font: { color: muted, family: colors.font, size: 12 },
    title: {
      font: { family: colors.headingFont, size: 16, color: colors.headingColor },
      pad: { l: 4 },
      xanchor: "left",
      x: 0,
    },
    legend: {
      title: { font: { size: 12, color: muted }, side: "top" },
      valign: "top",
      bordercolor: "rgba(0,0,0,0)",
      borderwidth: 0,
      font: { size: 12, color: strong },
    },
    paper_bgcolor: colors.background,
    plot_bgcolor: colors.background,
    xaxis: { ...axis(20), showgrid: false, zeroline: false },
    yaxis: { ...axis(24), ticklabelposition: "outside" },
    margin: { pad: 8, r: 0, l: 0 },
    hoverlabel: {
      bgcolor: colors.background,
      bordercolor: colors.border,
      font: { color: muted, family: colors.font, size: 12 },
    },
  };
  if (colors.colorway) layout.colorway = colors.colorway.split(",");
  return { layout };
}

// numbers come as little-endian base64 (NaN is a gap), anything else as a plain list
function decoded(values) {
  if (Array.isArray(values)) return values;
  const [type, text] = Object.entries(values)[0];
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return Array.from(type === "i4" ? new Int32Array(bytes.buffer) : new Float64Array(bytes.buffer));
}

function newChart(parentElement, mount) {
  const div = document.createElement("div");
  div.className = "live-lines";
  div.style.width = "100%";
  parentElement.appendChild(div);
  const stats = { payloads: 0, reacts: 0, extends: 0, afterplots: 0, reports: 0, deferred: 0 };
  div.liveLines = stats; // the browser test reads these
  const chart = { div, mount, stats, gen: null, counts: [], seq: 0, queue: Promise.resolve() };
  Object.assign(chart, { traces: null, stale: false, pending: new Map(), inView: true });
  let frame = 0;
  // a chart in a hidden tab waits: it draws, at its tab's width, when it shows
  const observer = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => repaint(chart, true));
  });
  observer.observe(div);
  // the same for a chart scrolled out of view (below the fold on a small screen)
  const sight = new IntersectionObserver((entries) => {
    chart.inView = entries[entries.length - 1].isIntersecting;
    if (chart.inView) repaint(chart);
  });
  sight.observe(div);
  page.charts.add(chart);
  chart.cleanup = () => {
    observer.disconnect();
    sight.disconnect();
    page.charts.delete(chart);
    cancelAnimationFrame(frame);
    window.Plotly?.purge(div);
  };
  return chart;
}

function report(chart, payload) {
  const ack = payload.ack || [];
  if (chart.seq > 0 && !(ack[0] === chart.mount && ack[1] >= chart.seq)) return; // not read yet
  chart.seq += 1;
  chart.stats.reports += 1;
  const { mount, seq, gen, counts } = chart;
  chart.setStateValue("have", { mount, seq, gen, counts });
}

// draw what changed, if the chart can be seen: the whole figure when stale, else the new points
async function paint(chart, Plotly, resized = false) {
  const { div, pending } = chart;
  if (!Plotly || !chart.traces || div.offsetParent === null) return;
  if (document.hidden || !chart.inView) {
    chart.stats.deferred += 1;
    return;
  }
  if (chart.stale) {
    for (const [i, points] of pending) {
      const trace = chart.traces[i];
      Object.assign(trace, { x: trace.x.concat(points.x), y: trace.y.concat(points.y) });
    }
    pending.clear();
    const layout = { template: streamlitTemplate(chart.colors), ...chart.layout };
    await Plotly.react(div, chart.traces, layout, CONFIG);
    if (!chart.listening) {
      div.on("plotly_afterplot", () => (chart.stats.afterplots += 1));
      chart.listening = true;
    }
    chart.stale = false;
    chart.stats.reacts += 1;
  } else if (pending.size) {
    const indices = [...pending.keys()];
    const update = { x: [], y: [] };
    for (const i of indices) {
      update.x.push(pending.get(i).x);
      update.y.push(pending.get(i).y);
    }
    pending.clear();
    await Plotly.extendTraces(div, update, indices);
    chart.stats.extends += 1;
  } else if (resized && div.clientWidth !== div._fullLayout?.width) {
    await Plotly.Plots.resize(div);
  }
}

async function apply(chart, Plotly, payload) {
  chart.stats.payloads += 1;
  const { div } = chart;
  if (chart.gen === null && div.firstChild && !div._fullLayout) div.textContent = ""; // an error
  if (payload.height && div.style.height !== `${payload.height}px`) {
    div.style.height = `${payload.height}px`;
  }
  const colors = themeColors(div);
  if (payload.traces && payload.gen !== chart.gen) {
    const traces = payload.traces.map((t) => ({ ...t, x: decoded(t.x), y: decoded(t.y) }));
    Object.assign(chart, { colors, traces, layout: payload.layout, gen: payload.gen, stale: true });
    chart.counts = traces.map((t) => t.x.length);
    chart.pending.clear();
    await paint(chart, Plotly);
    return;
  }
  if (payload.gen !== chart.gen) {
    report(chart, payload); // a new mount, or a full figure that never arrived
    return;
  }
  // Streamlit's theme changed (it then calls us again with the same data)
  if (JSON.stringify(colors) !== JSON.stringify(chart.colors)) {
    Object.assign(chart, { colors, stale: true, traces: div.data ?? chart.traces });
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
  await paint(chart, Plotly);
  if (gap) report(chart, payload);
}

function showError(chart, error) {
  window.Plotly?.purge(chart.div);
  chart.div.textContent = `Live chart: ${error.message}`;
  chart.div.style.color = "#ff4b4b";
  chart.gen = null; // the next payload asks for the whole figure again
}

export function render(component, plotlyUrl) {
  const { data, key, parentElement } = component;
  const chart = (parentElement.__liveLines ??= newChart(parentElement, key));
  chart.setStateValue = component.setStateValue;
  const payload = data instanceof Uint8Array ? JSON.parse(new TextDecoder().decode(data)) : data;
  // payloads apply in arrival order, the first ones once plotly.js has loaded
  chart.queue = chart.queue
    .then(() => loadPlotly(plotlyUrl))
    .then((Plotly) => apply(chart, Plotly, payload))
    .catch((error) => showError(chart, error));
  return chart.cleanup;
}
