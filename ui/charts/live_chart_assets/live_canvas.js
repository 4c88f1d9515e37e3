// A small canvas renderer for the live charts (ui/charts/live_chart.py): it reads the subset of a
// plotly figure that those charts use (lines and markers, linear and log axes, side-by-side
// panels, a legend, vertical marker lines and their words) and draws it in about a millisecond.
// plotly.js redrew a live chart in about 35 ms whatever its points (python -m core bench
// --browser), which was most of what watching a run cost the browser. The finished run's charts
// stay plotly figures (st.plotly_chart): only the charts that grow while a run trains are here.

const SUPERSCRIPT = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };
const LEGEND_LINE = 26; // pixels of line drawn in front of a legend entry
const MARKER_SIZE = 6;

const title = (t) => (typeof t === "string" ? t : t?.text ?? "");
const finite = (v) => typeof v === "number" && Number.isFinite(v);

function axisOf(layout, id) {
  // "x" → layout.xaxis, "x2" → layout.xaxis2
  return layout[`${id[0]}axis${id.slice(1)}`] ?? {};
}

function dashPattern(dash, width) {
  const w = Math.max(1, width);
  return (
    {
      dash: [3 * w, 3 * w],
      dot: [w, 2 * w],
      dashdot: [3 * w, 2 * w, w, 2 * w],
      longdash: [6 * w, 3 * w],
      longdashdot: [6 * w, 2 * w, w, 2 * w],
    }[dash] ?? []
  );
}

function superscript(n) {
  return String(n)
    .split("")
    .map((c) => SUPERSCRIPT[c] ?? c)
    .join("");
}

// ticks: "nice" steps of 1, 2 or 5 times a power of ten, about `count` of them (as plotly's)
function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return power * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10);
}

function decimalsFor(step) {
  return Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
}

function formatter(axis, step) {
  const format = axis.tickformat ?? "";
  const percent = format.endsWith("%");
  if (percent) {
    const precision = Number(/\.(\d+)/.exec(format)?.[1] ?? 0);
    const trim = format.includes("~");
    const digits = trim ? Math.min(precision, decimalsFor(step * 100)) : precision;
    return (v) => `${(v * 100).toFixed(digits)}%`;
  }
  const comma = format.includes(",");
  const digits = decimalsFor(step);
  const power = axis.exponentformat === "power" && step < 1e-3; // 10⁻⁴, 5×10⁻⁴, 10⁻³…
  return (v) => {
    if (v === 0) return "0";
    if (power) {
      const e = Math.floor(Math.log10(Math.abs(v)) + 1e-9);
      const m = Number((v / 10 ** e).toPrecision(3));
      return m === 1 ? `10${superscript(e)}` : `${m}×10${superscript(e)}`;
    }
    if (!comma && Math.abs(v) >= 10000 && Math.abs(v) % 1000 === 0) return `${v / 1000}k`;
    const text = v.toFixed(digits);
    return comma ? Number(text).toLocaleString("en-US", { maximumFractionDigits: digits }) : text;
  };
}

// a value with more precision than its axis's ticks, for the hover box
function readout(axis, v) {
  if (!finite(v)) return "–";
  if ((axis.tickformat ?? "").endsWith("%")) return `${(v * 100).toFixed(2)}%`;
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? String(Number(v.toPrecision(4))) : v.toExponential(3);
}

function extent(values, log) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!finite(v) || (log && v <= 0)) continue;
    const u = log ? Math.log10(v) : v;
    if (u < lo) lo = u;
    if (u > hi) hi = u;
  }
  return [lo, hi];
}

// an axis's range in its own units (log10 for a log axis), as plotly's autorange would choose it
function axisRange(axis, values, pad) {
  const log = axis.type === "log";
  if (Array.isArray(axis.range)) return axis.range.map(Number);
  let [lo, hi] = extent(values, log);
  if (!finite(lo)) return log ? [-1, 0] : [0, 1];
  if (axis.rangemode === "tozero" && !log) [lo, hi] = [Math.min(0, lo), Math.max(0, hi)];
  if (hi - lo < 1e-12) {
    const half = log ? 0.5 : Math.abs(lo) > 0 ? Math.abs(lo) * 0.05 : 1;
    [lo, hi] = [lo - half, hi + half];
  } else if (pad) {
    const margin = (hi - lo) * 0.05;
    if (!(axis.rangemode === "tozero" && lo === 0)) lo -= margin;
    hi += margin;
  }
  const clip = axis.autorangeoptions ?? {};
  if (finite(clip.clipmin)) lo = Math.max(lo, clip.clipmin);
  if (finite(clip.clipmax)) hi = Math.min(hi, clip.clipmax);
  return hi > lo ? [lo, hi] : [lo - 1, lo + 1];
}

function ticksOf(axis, range, pixels, spacing) {
  const [lo, hi] = range;
  if (axis.type === "log") {
    if (Array.isArray(axis.tickvals)) {
      const texts = axis.ticktext ?? axis.tickvals.map(String);
      const ticks = axis.tickvals
        .map((v, i) => ({ at: Math.log10(v), text: String(texts[i]) }))
        .filter((t) => t.at >= lo - 1e-9 && t.at <= hi + 1e-9);
      // as many as fit: every other one, then every third…
      const fit = Math.max(2, Math.floor(pixels / (spacing * 0.6)));
      const every = Math.max(1, Math.ceil(ticks.length / fit));
      return ticks.filter((_, i) => i % every === 0);
    }
    const ticks = [];
    for (let e = Math.ceil(lo - 1e-9); e <= hi + 1e-9; e += 1) {
      ticks.push({ at: e, text: axis.exponentformat === "power" ? `10${superscript(e)}` : String(10 ** e) });
    }
    if (ticks.length >= 2) return ticks;
    return [lo, hi].map((at) => ({ at, text: readout(axis, 10 ** at) })); // less than a decade
  }
  const linear = (step) => {
    const format = formatter(axis, step);
    const ticks = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
      const at = Math.abs(v) < step * 1e-9 ? 0 : v;
      ticks.push({ at, text: format(Number(at.toPrecision(12))) });
    }
    return ticks;
  };
  if (axis.dtick && (hi - lo) / axis.dtick <= pixels / 12) return linear(Number(axis.dtick));
  const count = Math.max(3, Math.floor(pixels / spacing));
  const ticks = linear(niceStep(hi - lo, count));
  return ticks.length >= 3 ? ticks : linear(niceStep(hi - lo, 2 * count)); // a narrow range
}

// where each panel lies on the canvas and how it maps values to pixels
function panels(chart, width, height, font) {
  const { traces, layout } = chart;
  const ids = [];
  for (const t of traces) {
    const pair = `${t.xaxis ?? "x"}|${t.yaxis ?? "y"}`;
    if (!ids.includes(pair)) ids.push(pair);
  }
  if (!ids.length) ids.push("x|y");
  const margin = { l: 50, r: 10, t: 36, b: 40, ...(layout.margin ?? {}) };
  const legend = legendBox(chart, width, font);
  const top = Math.max(margin.t, legend.horizontal ? legend.height + 6 : 10);
  const right = legend.horizontal ? margin.r : Math.max(margin.r, legend.width + 16);
  const bottom = Math.max(margin.b, font.tick + font.title + 20);
  const plotHeight = Math.max(20, height - top - bottom);
  const measured = ids.map((pair) => {
    const [xid, yid] = pair.split("|");
    const xaxis = axisOf(layout, xid);
    const yaxis = axisOf(layout, yid);
    const mine = traces.filter((t) => (t.xaxis ?? "x") === xid && (t.yaxis ?? "y") === yid);
    const markers = mine.some((t) => (t.mode ?? "lines").includes("markers"));
    const xrange = axisRange(xaxis, mine.flatMap((t) => t.x), markers);
    const yrange = axisRange(yaxis, mine.flatMap((t) => t.y), true);
    const yticks = ticksOf(yaxis, yrange, plotHeight, 40 * (font.tick / 12));
    chart.ctx.font = `${font.tick}px ${font.family}`;
    const labelWidth = Math.max(0, ...yticks.map((t) => chart.ctx.measureText(t.text).width));
    return { xid, yid, xaxis, yaxis, xrange, yrange, yticks, labelWidth, traces: mine };
  });
  // the panels share the plotting area as their x axes' domains say; a panel that does not
  // start at the left edge has its tick labels and title in the gap before it, as in plotly
  const first = measured.filter((p) => (p.xaxis.domain ?? [0, 1])[0] === 0);
  const left = Math.max(margin.l, ...first.map((p) => p.labelWidth + font.title + 20));
  const inner = width - right;
  const span = (panel) => panel.xaxis.domain ?? [0, 1];
  return measured.map((panel) => {
    const [d0, d1] = span(panel);
    const x0 = left + d0 * (inner - left);
    let x1 = left + d1 * (inner - left);
    // on a narrow screen the gap may be too small for the next panel's labels: this one yields
    for (const next of measured.filter((p) => span(p)[0] >= d1 && p !== panel)) {
      x1 = Math.min(x1, left + span(next)[0] * (inner - left) - next.labelWidth - font.title - 22);
    }
    const box = { left: x0, right: Math.max(x0 + 20, x1), top, bottom: top + plotHeight };
    const { xaxis, yaxis, xrange, yrange } = panel;
    const xticks = ticksOf(xaxis, xrange, box.right - box.left, 80 * (font.tick / 12));
    const xlog = xaxis.type === "log";
    const ylog = yaxis.type === "log";
    const px = (v) => box.left + ((((xlog ? Math.log10(v) : v) - xrange[0]) / (xrange[1] - xrange[0])) * (box.right - box.left));
    const py = (v) => box.bottom - ((((ylog ? Math.log10(v) : v) - yrange[0]) / (yrange[1] - yrange[0])) * (box.bottom - box.top));
    return { ...panel, xticks, box, px, py, ylog, xlog };
  });
}

function legendEntries(chart) {
  const show = chart.layout.showlegend !== false;
  return show ? chart.traces.filter((t) => t.showlegend !== false && t.name) : [];
}

function legendBox(chart, width, font) {
  const legend = chart.layout.legend ?? {};
  const entries = legendEntries(chart);
  const horizontal = legend.orientation !== "v";
  const heading = title(legend.title);
  if (!entries.length) return { horizontal, height: 0, width: 0, rows: [], heading };
  const ctx = chart.ctx;
  ctx.font = `${font.legend}px ${font.family}`;
  const sizes = entries.map((t) => LEGEND_LINE + 6 + ctx.measureText(t.name).width + 16);
  const line = font.legend * 1.7;
  if (!horizontal) {
    const headingWidth = heading ? ctx.measureText(heading).width : 0;
    const rows = entries.map((t) => [t]);
    return { horizontal, rows, heading, line, width: Math.max(headingWidth, ...sizes), height: line * (rows.length + (heading ? 1 : 0)) };
  }
  const rows = [[]];
  let used = heading ? ctx.measureText(heading).width + 8 : 0;
  entries.forEach((t, i) => {
    if (used + sizes[i] > width - 20 && rows[rows.length - 1].length) {
      rows.push([]);
      used = 0;
    }
    rows[rows.length - 1].push(t);
    used += sizes[i];
  });
  return { horizontal, rows, heading, line, width, height: line * rows.length };
}

function strokeLine(ctx, trace, panel) {
  const { px, py, ylog, xlog } = panel;
  const line = trace.line ?? {};
  const width = line.width ?? 2;
  ctx.strokeStyle = line.color ?? "#1f77b4";
  ctx.lineWidth = width;
  ctx.setLineDash(dashPattern(line.dash, width));
  ctx.beginPath();
  let drawing = false;
  const n = Math.min(trace.x.length, trace.y.length);
  for (let i = 0; i < n; i += 1) {
    const x = trace.x[i];
    const y = trace.y[i];
    if (!finite(x) || !finite(y) || (ylog && y <= 0) || (xlog && x <= 0)) {
      drawing = false; // a gap, as plotly draws NaN
      continue;
    }
    if (drawing) ctx.lineTo(px(x), py(y));
    else ctx.moveTo(px(x), py(y));
    drawing = true;
  }
  ctx.stroke();
  ctx.setLineDash([]);
}

function polygon(ctx, x, y, r, sides, rotation) {
  ctx.beginPath();
  for (let k = 0; k < sides; k += 1) {
    const a = rotation + (k * 2 * Math.PI) / sides;
    const method = k ? "lineTo" : "moveTo";
    ctx[method](x + r * Math.cos(a), y + r * Math.sin(a));
  }
  ctx.closePath();
}

function marker(ctx, symbol, x, y, size) {
  const r = size / 2;
  switch (symbol) {
    case "square":
      ctx.beginPath();
      ctx.rect(x - r, y - r, 2 * r, 2 * r);
      break;
    case "diamond":
      polygon(ctx, x, y, r * 1.3, 4, -Math.PI / 2);
      break;
    case "triangle-up":
      polygon(ctx, x, y, r * 1.25, 3, -Math.PI / 2);
      break;
    case "triangle-down":
      polygon(ctx, x, y, r * 1.25, 3, Math.PI / 2);
      break;
    case "pentagon":
      polygon(ctx, x, y, r * 1.15, 5, -Math.PI / 2);
      break;
    case "hexagon":
      polygon(ctx, x, y, r * 1.15, 6, 0);
      break;
    case "star": {
      ctx.beginPath();
      for (let k = 0; k < 10; k += 1) {
        const a = -Math.PI / 2 + (k * Math.PI) / 5;
        const radius = k % 2 ? r * 0.55 : r * 1.35;
        ctx[k ? "lineTo" : "moveTo"](x + radius * Math.cos(a), y + radius * Math.sin(a));
      }
      ctx.closePath();
      break;
    }
    case "cross":
    case "x": {
      const t = r * 0.45;
      ctx.save();
      ctx.translate(x, y);
      if (symbol === "x") ctx.rotate(Math.PI / 4);
      ctx.beginPath();
      ctx.rect(-r * 1.2, -t, 2.4 * r, 2 * t);
      ctx.rect(-t, -r * 1.2, 2 * t, 2.4 * r);
      ctx.restore();
      break;
    }
    default:
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 2 * Math.PI);
  }
  ctx.fill();
}

function drawMarkers(ctx, trace, panel) {
  const { px, py, ylog } = panel;
  ctx.fillStyle = trace.marker?.color ?? trace.line?.color ?? "#1f77b4";
  const symbol = trace.marker?.symbol ?? "circle";
  const n = Math.min(trace.x.length, trace.y.length);
  for (let i = 0; i < n; i += 1) {
    const x = trace.x[i];
    const y = trace.y[i];
    if (finite(x) && finite(y) && !(ylog && y <= 0)) marker(ctx, symbol, px(x), py(y), MARKER_SIZE);
  }
}

function drawAxes(ctx, panel, colors, font) {
  const { box, xticks, yticks, xaxis, yaxis, xrange, yrange } = panel;
  ctx.lineWidth = 1;
  ctx.strokeStyle = colors.faint;
  ctx.fillStyle = colors.muted;
  ctx.font = `${font.tick}px ${font.family}`;
  const yOf = (at) => box.bottom - ((at - yrange[0]) / (yrange[1] - yrange[0])) * (box.bottom - box.top);
  const xOf = (at) => box.left + ((at - xrange[0]) / (xrange[1] - xrange[0])) * (box.right - box.left);
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const tick of yticks) {
    const y = Math.round(yOf(tick.at)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(box.left, y);
    ctx.lineTo(box.right, y);
    ctx.stroke();
    ctx.fillText(tick.text, box.left - 8, y);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const tick of xticks) ctx.fillText(tick.text, xOf(tick.at), box.bottom + 6);
  ctx.font = `${font.title}px ${font.family}`;
  ctx.fillText(title(xaxis.title), (box.left + box.right) / 2, box.bottom + font.tick + 12);
  ctx.save();
  ctx.translate(box.left - panel.labelWidth - 14, (box.top + box.bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = "bottom";
  ctx.fillText(title(yaxis.title), 0, 0);
  ctx.restore();
}

function drawMarks(ctx, chart, all, font) {
  // vertical lines at a step (a change of settings), over the panel of their x axis
  const layout = chart.layout;
  for (const shape of layout.shapes ?? []) {
    const panel = all.find((p) => p.xid === (shape.xref ?? "x")) ?? all[0];
    const x = panel.px(shape.x0);
    if (!finite(x) || x < panel.box.left || x > panel.box.right) continue;
    const span = panel.box.bottom - panel.box.top;
    ctx.strokeStyle = shape.line?.color ?? "#888";
    ctx.lineWidth = shape.line?.width ?? 1;
    ctx.setLineDash(dashPattern(shape.line?.dash, ctx.lineWidth));
    ctx.beginPath();
    ctx.moveTo(x, panel.box.bottom - (shape.y0 ?? 0) * span);
    ctx.lineTo(x, panel.box.bottom - (shape.y1 ?? 1) * span);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.font = `${font.tick}px ${font.family}`;
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  for (const note of layout.annotations ?? []) {
    const panel = all.find((p) => p.xid === (note.xref ?? "x")) ?? all[0];
    const x = panel.px(note.x) + 3;
    if (!finite(x) || x > panel.box.right) continue;
    const y = panel.box.bottom - (note.y ?? 1) * (panel.box.bottom - panel.box.top) + 2;
    const text = String(note.text ?? "");
    const width = ctx.measureText(text).width;
    if (note.bgcolor) {
      ctx.fillStyle = note.bgcolor;
      ctx.fillRect(x - 2, y - 1, width + 4, font.tick + 3);
    }
    ctx.fillStyle = note.font?.color ?? "#555";
    ctx.fillText(text, x, y);
  }
}

function drawLegend(ctx, chart, all, width, font, colors) {
  const box = legendBox(chart, width, font);
  if (!box.rows.length) return;
  ctx.font = `${font.legend}px ${font.family}`;
  ctx.textBaseline = "middle";
  ctx.textAlign = "left";
  const sample = (trace, x, y) => {
    const mode = trace.mode ?? "lines";
    if (mode.includes("lines")) {
      const width = Math.min(trace.line?.width ?? 2, 4);
      ctx.strokeStyle = trace.line?.color ?? "#1f77b4";
      ctx.lineWidth = width;
      ctx.setLineDash(dashPattern(trace.line?.dash, width));
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x + LEGEND_LINE, y);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (mode.includes("markers")) {
      ctx.fillStyle = trace.marker?.color ?? trace.line?.color ?? "#1f77b4";
      marker(ctx, trace.marker?.symbol ?? "circle", x + LEGEND_LINE / 2, y, MARKER_SIZE + 1);
    }
    ctx.fillStyle = colors.strong;
    ctx.fillText(trace.name, x + LEGEND_LINE + 6, y);
  };
  if (box.horizontal) {
    let y = box.line / 2 + 2;
    box.rows.forEach((row, r) => {
      let x = all[0].box.left;
      if (r === 0 && box.heading) {
        ctx.fillStyle = colors.muted;
        ctx.fillText(box.heading, x, y);
        x += ctx.measureText(box.heading).width + 8;
      }
      for (const trace of row) {
        sample(trace, x, y);
        x += LEGEND_LINE + 6 + ctx.measureText(trace.name).width + 16;
      }
      y += box.line;
    });
    return;
  }
  const x = width - box.width - 4;
  let y = all[0].box.top + box.line / 2;
  if (box.heading) {
    ctx.fillStyle = colors.muted;
    ctx.fillText(box.heading, x, y);
    y += box.line;
  }
  for (const [trace] of box.rows) {
    sample(trace, x, y);
    y += box.line;
  }
}

// the hover box: the points nearest the pointer, in the pointer's panel
function drawHover(ctx, chart, all, font, colors) {
  const hover = chart.hover;
  if (!hover) return;
  const panel = all.find((p) => hover.x >= p.box.left && hover.x <= p.box.right && hover.y >= p.box.top && hover.y <= p.box.bottom);
  if (!panel) return;
  const lines = [];
  const scatter = panel.traces.every((t) => (t.mode ?? "lines") === "markers");
  if (scatter) {
    let best = null;
    for (const t of panel.traces) {
      for (let i = 0; i < t.x.length; i += 1) {
        const d = Math.hypot(panel.px(t.x[i]) - hover.x, panel.py(t.y[i]) - hover.y);
        if (finite(d) && d < 24 && (!best || d < best.d)) best = { d, t, i };
      }
    }
    if (!best) return;
    lines.push(best.t.name);
  } else {
    const xs = panel.traces.find((t) => t.x.length)?.x;
    if (!xs) return;
    const at = panel.xrange[0] + ((hover.x - panel.box.left) / (panel.box.right - panel.box.left)) * (panel.xrange[1] - panel.xrange[0]);
    let index = 0;
    let best = Infinity;
    for (let i = 0; i < xs.length; i += 1) {
      const d = Math.abs((panel.xlog ? Math.log10(xs[i]) : xs[i]) - at);
      if (d < best) [best, index] = [d, i];
    }
    const x = xs[index];
    const guide = Math.round(panel.px(x)) + 0.5;
    ctx.strokeStyle = colors.muted;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(guide, panel.box.top);
    ctx.lineTo(guide, panel.box.bottom);
    ctx.stroke();
    lines.push(`${title(panel.xaxis.title) || "x"} ${readout(panel.xaxis, x)}`);
    for (const t of panel.traces) {
      const i = t.x.indexOf(x);
      if (i >= 0 && finite(t.y[i])) lines.push(`${t.name}: ${readout(panel.yaxis, t.y[i])}`);
    }
  }
  ctx.font = `${font.tick}px ${font.family}`;
  const width = Math.max(...lines.map((l) => ctx.measureText(l).width)) + 12;
  const height = lines.length * (font.tick + 5) + 8;
  let left = hover.x + 12;
  if (left + width > panel.box.right) left = hover.x - 12 - width;
  const top = Math.max(panel.box.top, Math.min(hover.y - height / 2, panel.box.bottom - height));
  ctx.fillStyle = colors.background;
  ctx.strokeStyle = colors.border;
  ctx.fillRect(left, top, width, height);
  ctx.strokeRect(left + 0.5, top + 0.5, width - 1, height - 1);
  ctx.fillStyle = colors.strong;
  ctx.textAlign = "left";
  ctx.textBaseline = "top";
  lines.forEach((l, k) => ctx.fillText(l, left + 6, top + 5 + k * (font.tick + 5)));
}

function summary(chart) {
  // what a screen reader hears: the chart's lines and where each has got to
  const parts = chart.traces
    .filter((t) => t.x.length)
    .map((t) => {
      const n = t.x.length - 1;
      return `${t.name || "line"}: ${readout({}, t.y[n])} at ${readout({}, t.x[n])}`;
    });
  return `Live chart. ${parts.join("; ")}`;
}

/** Draw chart.traces with chart.layout on chart.canvas at the width of its container. */
export function drawChart(chart) {
  const { canvas, div } = chart;
  const width = Math.max(50, div.clientWidth);
  const height = Number(chart.layout.height ?? 280);
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
  }
  const ctx = (chart.ctx = canvas.getContext("2d"));
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const colors = chart.colors;
  ctx.fillStyle = colors.background;
  ctx.fillRect(0, 0, width, height);
  const base = Number(chart.layout.font?.size ?? 13);
  const font = { tick: base * (12 / 13), title: base * (14 / 13), legend: base * (12 / 13), family: colors.font };
  const all = panels(chart, width, height, font);
  for (const panel of all) {
    drawAxes(ctx, panel, colors, font);
    ctx.save();
    ctx.beginPath();
    ctx.rect(panel.box.left, panel.box.top - 4, panel.box.right - panel.box.left + 4, panel.box.bottom - panel.box.top + 8);
    ctx.clip();
    for (const trace of panel.traces) {
      const mode = trace.mode ?? "lines";
      if (mode.includes("lines")) strokeLine(ctx, trace, panel);
      if (mode.includes("markers")) drawMarkers(ctx, trace, panel);
    }
    ctx.restore();
  }
  drawMarks(ctx, chart, all, font);
  drawLegend(ctx, chart, all, width, font, colors);
  drawHover(ctx, chart, all, font, colors);
  canvas.setAttribute("aria-label", summary(chart));
  return width;
}
