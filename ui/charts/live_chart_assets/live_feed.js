// The browser half of ui/feed/live_feed.py: it asks the server for a job's progress line and
// its charts' new points twice a second and draws them (live_chart.js's charts, on a canvas),
// without running the page's script. When the job's state is no longer the one the page drew
// (it ended, was paused elsewhere, or learned its device), it asks Streamlit for a rerun.
// Two views: the curves, and "inside" (ui/feed/inside_feed.py): the first layer's weights as
// a picture (sent only when a new snapshot is taken), the live PCA and the gradient norms.

// live_chart.js's module, given by the loader (each file's URL carries its version)
let charts = null;

const CHARTS = { curves: ["loss", "epochs", "lr"], inside: ["features", "grads"] };

function themed(element) {
  const css = getComputedStyle(element);
  const read = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return {
    primary: read("--st-primary-color", "#ff4b4b"),
    track: read("--st-secondary-background-color", "#f0f2f6"),
    text: read("--st-text-color", "#31333f"),
    warning: read("--st-warning-background-color", "rgba(255, 227, 18, 0.1)"),
  };
}

function build(parentElement, viewName) {
  const root = document.createElement("div");
  root.className = "live-feed";
  const colors = themed(parentElement);
  root.innerHTML = `
    <div class="live-progress" role="progressbar" aria-label="Training progress"
         aria-valuemin="0" aria-valuemax="100" aria-valuenow="0">
      <p class="live-progress-text" style="margin: 0 0 0.5rem; font-size: 0.875rem;"></p>
      <div style="height: 0.5rem; border-radius: 0.25rem; background: ${colors.track}; overflow: hidden;">
        <div class="live-progress-fill" style="height: 100%; width: 0%; background: ${colors.primary};"></div>
      </div>
    </div>
    <p class="live-notice" hidden style="margin: 1rem 0 0; padding: 0.75rem 1rem; border-radius: 0.5rem;
       background: ${colors.warning};"></p>
    <div class="live-charts" style="margin-top: 1rem;"></div>`;
  root.style.color = colors.text;
  parentElement.appendChild(root);
  const chartsBox = root.querySelector(".live-charts");
  const slots = {};
  if (viewName === "inside") {
    chartsBox.innerHTML = INSIDE_HTML;
    for (const name of CHARTS.inside) {
      slots[name] = { slot: chartsBox.querySelector(`[data-chart="${name}"]`), chart: null };
    }
    return { root, slots };
  }
  for (const name of CHARTS.curves) {
    const slot = document.createElement("div");
    slot.dataset.chart = name;
    slot.style.marginBottom = "1rem";
    chartsBox.appendChild(slot);
    slots[name] = { slot, chart: null, caption: null };
  }
  return { root, slots };
}

// as Streamlit lays out the polled view: two columns (stacked on a phone), a bold title with
// its detail, captions in a smaller, fainter type
const CAPTION = "margin: 0.25rem 0 0.75rem; font-size: 0.875rem; opacity: 0.7;";
const HEADING = (name) =>
  `<p class="live-heading" data-part="${name}" style="margin: 0 0 0.5rem;"><strong></strong>` +
  `<span class="live-detail"></span></p>`;
const INSIDE_HTML = `
  <style>
    .live-inside-columns { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem 2rem; }
    @media (max-width: 640px) { .live-inside-columns { grid-template-columns: minmax(0, 1fr); } }
  </style>
  <p class="live-waiting" hidden style="${CAPTION}"></p>
  <div class="live-inside" hidden>
    <div class="live-inside-columns">
      <div>
        ${HEADING("weights")}
        <p class="live-caption" data-part="weights" style="${CAPTION}"></p>
        <img class="live-weights" style="display: block; width: 100%; height: auto;" alt="">
      </div>
      <div class="live-features" hidden>
        ${HEADING("features")}
        <div data-chart="features"></div>
        <p class="live-caption" data-part="features" style="${CAPTION}"></p>
      </div>
    </div>
    <div style="margin-top: 1rem;">
      ${HEADING("grads")}
      <div data-chart="grads"></div>
      <p class="live-caption" data-part="grads" style="${CAPTION}"></p>
    </div>
  </div>`;

function words(root, part, { title, detail, caption }) {
  const heading = root.querySelector(`.live-heading[data-part="${part}"]`);
  heading.querySelector("strong").textContent = title ?? "";
  heading.querySelector(".live-detail").textContent = detail ? ` · ${detail}` : "";
  const below = root.querySelector(`.live-caption[data-part="${part}"]`);
  below.textContent = caption ?? "";
}

function showInside(view, inside) {
  const box = view.root.querySelector(".live-inside");
  const waiting = view.root.querySelector(".live-waiting");
  waiting.hidden = !inside.waiting;
  waiting.textContent = inside.waiting ?? "";
  box.hidden = Boolean(inside.waiting);
  if (inside.waiting) return;
  const weights = inside.weights;
  words(box, "weights", weights);
  const image = box.querySelector(".live-weights");
  if (weights.image) {
    image.src = weights.image;
    view.weights = weights.stamp; // what held() tells the server it has
  }
  image.alt = weights.alt ?? "";
  const features = box.querySelector(".live-features");
  features.hidden = !inside.features;
  if (inside.features) words(box, "features", inside.features);
  words(box, "grads", inside.grads);
}

function caption(slot, text) {
  if (!text) {
    slot.caption?.remove();
    slot.caption = null;
    return;
  }
  if (!slot.caption) {
    slot.caption = document.createElement("p");
    slot.caption.className = "live-caption";
    slot.caption.style.cssText = "margin: 0.5rem 0; font-size: 0.875rem; opacity: 0.7;";
    slot.slot.prepend(slot.caption);
  }
  slot.caption.textContent = text;
}

function show(view, reply) {
  const progress = view.root.querySelector(".live-progress");
  const percent = Math.round(100 * (reply.fraction ?? 0));
  progress.setAttribute("aria-valuenow", String(percent));
  view.root.querySelector(".live-progress-text").textContent = reply.text ?? "";
  view.root.querySelector(".live-progress-fill").style.width = `${percent}%`;
  const notice = view.root.querySelector(".live-notice");
  notice.hidden = !reply.notice;
  notice.textContent = reply.notice ?? "";
  const payloads = reply.charts ?? {};
  for (const name of CHARTS[view.view]) {
    const slot = view.slots[name];
    if (payloads[name]) {
      slot.chart ??= charts.newChart(slot.slot, `${view.key}-${name}`);
      charts.apply(slot.chart, payloads[name]);
    }
  }
  if (view.view === "inside") {
    if (reply.inside) showInside(view, reply.inside);
    return;
  }
  // the words that stand for a chart not drawn yet, where it will be
  const captions = reply.captions ?? [];
  caption(view.slots.loss, !payloads.loss ? captions[0] : null);
  caption(view.slots.epochs, payloads.loss && !payloads.epochs ? captions[0] : null);
}

function held(view) {
  const have = {};
  for (const name of CHARTS[view.view]) {
    const chart = view.slots[name].chart;
    if (chart && chart.gen !== null) have[name] = { gen: chart.gen, counts: chart.counts };
  }
  if (view.weights) have.weights = view.weights;
  return have;
}

async function poll(view) {
  if (view.stopped) return;
  if (!document.hidden) {
    try {
      const have = JSON.stringify(held(view));
      const query = new URLSearchParams({ have, scale: view.scale, view: view.view });
      const response = await fetch(`${view.url}?${query}`, { cache: "no-store" });
      if (response.ok) {
        const reply = await response.json();
        view.stats.replies += 1;
        if (view.stopped) return;
        show(view, reply);
        const moved = reply.state !== view.state || (reply.device && reply.device !== view.device);
        if (moved && !view.asked) {
          view.asked = true; // once: the rerun draws the page anew, this element with it
          view.setTriggerValue("moved", reply.state);
        }
      }
    } catch (error) {
      view.stats.errors += 1; // the server restarting: the next poll tries again
    }
  }
  view.timer = setTimeout(() => poll(view), view.every);
}

export function render(component, chartModule, draw) {
  charts = chartModule;
  charts.useRenderer(draw);
  const { data, key, parentElement, setTriggerValue } = component;
  const settings = data instanceof Uint8Array ? JSON.parse(new TextDecoder().decode(data)) : data;
  let view = parentElement.__liveFeed;
  settings.view = CHARTS[settings.view] ? settings.view : "curves";
  if (!view || view.url !== settings.url || view.view !== settings.view) {
    view?.cleanup();
    view = { key, ...build(parentElement, settings.view), stats: { replies: 0, errors: 0 } };
    parentElement.__liveFeed = view;
    view.root.liveFeed = view.stats; // the browser tests read these
    view.cleanup = () => {
      view.stopped = true;
      clearTimeout(view.timer);
      view.root.remove();
      if (parentElement.__liveFeed === view) parentElement.__liveFeed = null;
    };
    Object.assign(view, settings, { setTriggerValue });
    poll(view);
  } else {
    if (settings.state !== view.state || settings.device !== view.device) view.asked = false;
    Object.assign(view, settings, { setTriggerValue });
  }
  return view.cleanup;
}
