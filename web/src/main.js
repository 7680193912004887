// The Vitals explorer: pick a site, find points, chart them over a range in the site's
// local time, download exactly what is drawn as CSV, share the chart by its URL.
//
// Fields read from the API (all optional beyond the v1 basics, shown when present):
//   /v1/sites            sites: ["name", ...] or [{name, tz | timezone | time_zone}, ...]
//   /v1/sites/{s}/points points[]: name, data_type, unit | units, kind, equipment | equip,
//                        history_mode | his_mode | mode, interval_s, tags | marker_tags
//                        (list), kv_tags (object), quality ({stale, stuck, coverage, ...}),
//                        stale, stuck (booleans); any other scalar field as "key: value"
//   /v1/timeseries       top level: interval, tz, tz_source, unit; series[]: point, t, one
//                        array per aggregate asked (or v), unit, converted_from,
//                        history_mode, avg_kind, not_applicable, quality (object)
//   /openapi.json        the interval, aggregate and unit vocabulary, and whether `tz`,
//                        `unit` and `quality` are accepted (tz=site is then always sent;
//                        unit= and quality=true when picked)

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";

import { AuthError, capabilities, getJson, storedKey, storeKey } from "./api.js";
import { tableToCsv } from "./csv.js";
import { DEFAULT_STATE, formatHash, parseHash } from "./state.js";
import {
  formatLocal,
  fromLocalInput,
  PRESETS,
  presetRange,
  toLocalInput,
  validZone,
} from "./time.js";

const MAX_POINTS = 10;
const SEARCH_LIMIT = 50;
const COLORS = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
];
const DASHES = { avg: [], twavg: [], min: [4, 3], max: [8, 3], first: [2, 2], last: [1, 3] };
const POINT_FIELDS = {
  data_type: "type",
  unit: "unit",
  units: "unit",
  kind: "kind",
  equipment: "equip",
  equip: "equip",
  history_mode: "mode",
  his_mode: "mode",
  mode: "mode",
};
const SKIP_FIELDS = new Set([
  "name", "tags", "marker_tags", "kv_tags", "quality", "stale", "stuck", "interval_s",
  "history_mode_source",
]);
// Series fields that describe a series rather than hold one value per timestamp.
const SERIES_META = new Set(["point", "t", "not_applicable"]);

const $ = (id) => document.getElementById(id);
const ui = {
  keyDialog: $("key-dialog"),
  keyForm: $("key-form"),
  keyInput: $("key-input"),
  keyError: $("key-error"),
  forgetKey: $("forget-key"),
  site: $("site"),
  siteTz: $("site-tz"),
  search: $("search"),
  results: $("results"),
  resultCount: $("result-count"),
  selected: $("selected"),
  range: $("range"),
  start: $("start"),
  end: $("end"),
  custom: $("custom-range"),
  interval: $("interval"),
  aggs: $("aggs"),
  unit: $("unit"),
  unitLabel: $("unit-label"),
  withQuality: $("with-quality"),
  qualityLabel: $("quality-label"),
  refresh: $("refresh"),
  csv: $("csv"),
  share: $("share"),
  status: $("status"),
  chart: $("chart"),
  quality: $("quality"),
};

const app = {
  caps: null,
  sites: [], // [{name, tz}]
  state: parseHash(location.hash),
  meta: new Map(), // point name -> search record
  chart: null,
  table: null,
  drawSeq: 0,
  searchSeq: 0,
};

function siteTz() {
  const site = app.sites.find((s) => s.name === app.state.site);
  return site && site.tz && validZone(site.tz) ? site.tz : "UTC";
}

function setStatus(text, kind = "") {
  ui.status.textContent = text;
  ui.status.className = kind;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// ---- key prompt -------------------------------------------------------------------------

function askForKey(message) {
  ui.keyError.textContent = message || "";
  ui.keyDialog.hidden = false;
  ui.keyInput.value = "";
  ui.keyInput.focus();
}

ui.keyForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  storeKey(ui.keyInput.value.trim());
  ui.keyDialog.hidden = true;
  await start();
});

ui.forgetKey.addEventListener("click", () => {
  storeKey("");
  askForKey("Key forgotten for this tab.");
});

// ---- sites and point search ---------------------------------------------------------------

function normaliseSites(list) {
  return (list || []).map((s) =>
    typeof s === "string" ? { name: s, tz: null } : { name: s.name, tz: s.tz || s.timezone || s.time_zone || null },
  );
}

function renderSites() {
  ui.site.replaceChildren(...app.sites.map((s) => el("option", { value: s.name }, s.name)));
  if (!app.sites.some((s) => s.name === app.state.site)) {
    app.state.site = app.sites.length ? app.sites[0].name : "";
    app.state.points = [];
  }
  ui.site.value = app.state.site;
  ui.siteTz.textContent = `times in ${siteTz()}`;
}

function badges(record) {
  const out = [];
  for (const [field, label] of Object.entries(POINT_FIELDS)) {
    if (record[field] !== undefined && record[field] !== null && record[field] !== "") {
      const source = field === "history_mode" && record.history_mode_source;
      const text = `${label}: ${record[field]}${source ? ` (${source})` : ""}`;
      out.push(el("span", { class: `badge badge-${label}`, title: field }, text));
    }
  }
  for (const field of ["tags", "marker_tags"]) {
    if (Array.isArray(record[field])) {
      for (const tag of record[field]) out.push(el("span", { class: "badge badge-tag" }, String(tag)));
    }
  }
  for (const field of ["kv_tags", "tags"]) {
    const tags = record[field];
    if (tags && typeof tags === "object" && !Array.isArray(tags)) {
      for (const [k, v] of Object.entries(tags)) {
        out.push(el("span", { class: "badge badge-tag" }, v === true || v === null ? k : `${k}=${v}`));
      }
    }
  }
  if (Number.isFinite(record.interval_s)) {
    out.push(el("span", { class: "badge", title: "interval_s" }, `every ${record.interval_s} s`));
  }
  const quality = record.quality && typeof record.quality === "object" ? record.quality : {};
  if (record.stale || quality.stale) out.push(el("span", { class: "badge badge-warn" }, "stale"));
  if (record.stuck || quality.stuck) out.push(el("span", { class: "badge badge-warn" }, "stuck"));
  if (Number.isFinite(quality.coverage)) {
    out.push(el("span", { class: "badge badge-quality", title: "coverage of the expected samples" },
      `coverage ${(quality.coverage * 100).toFixed(0)}%`));
  }
  const rest = Object.fromEntries(
    Object.entries(quality).filter(([k]) => !["stale", "stuck", "coverage"].includes(k)),
  );
  if (Object.keys(rest).length) {
    out.push(el("span", { class: "badge badge-quality" }, qualityText(rest)));
  }
  for (const [field, value] of Object.entries(record)) {
    if (SKIP_FIELDS.has(field) || field in POINT_FIELDS || value === null || typeof value === "object") continue;
    out.push(el("span", { class: "badge" }, `${field}: ${value}`));
  }
  return out;
}

function qualityText(quality) {
  if (quality.days_reported === 0) return "no quality report for these days yet";
  return Object.entries(quality)
    .filter(([, v]) => v !== null && typeof v !== "object")
    .map(([k, v]) => `${k}: ${typeof v === "number" ? +v.toFixed(3) : v}`)
    .join(", ");
}

async function search() {
  const seq = ++app.searchSeq;
  const site = app.state.site;
  if (!site) return;
  const q = ui.search.value.trim();
  try {
    const { body } = await getJson(`/v1/sites/${encodeURIComponent(site)}/points`, {
      q: q || undefined,
      limit: SEARCH_LIMIT,
    });
    if (seq !== app.searchSeq) return; // a newer search is under way
    for (const record of body.points) app.meta.set(record.name, record);
    ui.resultCount.textContent = `${body.count} point${body.count === 1 ? "" : "s"}${body.count >= SEARCH_LIMIT ? "+" : ""}`;
    ui.results.replaceChildren(
      ...body.points.map((record) => {
        const chosen = app.state.points.includes(record.name);
        return el(
          "li",
          { class: chosen ? "result chosen" : "result" },
          el(
            "button",
            {
              type: "button",
              class: "add",
              title: chosen ? "on the chart" : "add to the chart",
              "data-point": record.name,
              onclick: () => addPoint(record.name),
            },
            chosen ? "✓" : "+",
          ),
          el("span", { class: "point-name" }, record.name),
          el("span", { class: "badges" }, ...badges(record)),
        );
      }),
    );
  } catch (error) {
    handleError(error);
  }
}

let searchTimer = 0;
ui.search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(search, 150);
});

function addPoint(name) {
  if (app.state.points.includes(name)) return;
  if (app.state.points.length >= MAX_POINTS) {
    setStatus(`At most ${MAX_POINTS} points on one chart.`, "error");
    return;
  }
  app.state.points.push(name);
  renderSelected();
  search();
  draw();
}

function removePoint(name) {
  app.state.points = app.state.points.filter((p) => p !== name);
  renderSelected();
  search();
  draw();
}

function renderSelected() {
  ui.selected.replaceChildren(
    ...app.state.points.map((name, i) =>
      el(
        "li",
        { class: "chip" },
        el("span", { class: "swatch", "data-color": String(i) }),
        el("span", {}, name),
        el("button", { type: "button", class: "remove", title: "remove", onclick: () => removePoint(name) }, "×"),
      ),
    ),
  );
  // Colours come from CSS classes: no inline style attributes under the page's CSP.
  ui.selected.querySelectorAll(".swatch").forEach((node) => {
    node.classList.add(`c${node.dataset.color}`);
  });
}

// ---- range, interval, aggregates --------------------------------------------------------

function renderControls() {
  ui.range.replaceChildren(
    ...Object.entries(PRESETS).map(([value, label]) => el("option", { value }, label)),
    el("option", { value: "custom" }, "Custom range"),
  );
  ui.interval.replaceChildren(...app.caps.intervals.map((i) => el("option", { value: i }, i)));
  ui.unitLabel.hidden = !(app.caps.params.has("unit") && app.caps.units.length);
  ui.qualityLabel.hidden = !app.caps.params.has("quality");
  ui.unit.replaceChildren(
    el("option", { value: "" }, "as stored"),
    ...app.caps.units.map((u) => el("option", { value: u }, u)),
  );
  ui.aggs.replaceChildren(
    ...app.caps.aggs.map((agg) =>
      el("label", { class: "agg" }, el("input", { type: "checkbox", value: agg }), ` ${agg}`),
    ),
  );
}

function applyStateToControls() {
  const tz = siteTz();
  const state = app.state;
  if (state.range && !(state.range in PRESETS)) state.range = DEFAULT_STATE.range;
  ui.range.value = state.range || "custom";
  const [start, end] = currentRange();
  ui.start.value = toLocalInput(tz, start);
  ui.end.value = toLocalInput(tz, end);
  ui.custom.hidden = Boolean(state.range);
  if (!app.caps.intervals.includes(state.interval)) state.interval = "auto";
  ui.interval.value = state.interval;
  if (state.unit && !app.caps.units.includes(state.unit)) state.unit = "";
  ui.unit.value = state.unit || "";
  ui.withQuality.checked = Boolean(state.quality);
  state.aggs = state.aggs.filter((a) => app.caps.aggs.includes(a));
  if (!state.aggs.length) state.aggs = [app.caps.aggs[0]];
  for (const box of ui.aggs.querySelectorAll("input")) {
    box.checked = state.aggs.includes(box.value);
    box.disabled = state.interval === "raw";
  }
}

function currentRange() {
  const s = app.state;
  if (s.range) return presetRange(s.range, siteTz());
  return [s.start, s.end];
}

ui.range.addEventListener("change", () => {
  if (ui.range.value === "custom") {
    const [start, end] = currentRange();
    Object.assign(app.state, { range: null, start, end });
  } else {
    app.state.range = ui.range.value;
  }
  applyStateToControls();
  draw();
});

for (const input of [ui.start, ui.end]) {
  input.addEventListener("change", () => {
    const tz = siteTz();
    const start = fromLocalInput(tz, ui.start.value);
    const end = fromLocalInput(tz, ui.end.value);
    if (start === null || end === null || end <= start) {
      setStatus("The range's end must be after its start.", "error");
      return;
    }
    Object.assign(app.state, { range: null, start, end });
    draw();
  });
}

ui.interval.addEventListener("change", () => {
  app.state.interval = ui.interval.value;
  applyStateToControls();
  draw();
});

ui.withQuality.addEventListener("change", () => {
  app.state.quality = ui.withQuality.checked;
  draw();
});

ui.unit.addEventListener("change", () => {
  app.state.unit = ui.unit.value;
  draw();
});

ui.aggs.addEventListener("change", () => {
  const chosen = [...ui.aggs.querySelectorAll("input:checked")].map((box) => box.value);
  app.state.aggs = chosen.length ? chosen : [app.caps.aggs[0]];
  applyStateToControls();
  draw();
});

ui.site.addEventListener("change", () => {
  app.state.site = ui.site.value;
  app.state.points = [];
  ui.search.value = "";
  ui.siteTz.textContent = `times in ${siteTz()}`;
  renderSelected();
  applyStateToControls();
  search();
  draw();
});

ui.refresh.addEventListener("click", () => draw());

ui.share.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(location.href);
    setStatus("Link copied.");
  } catch {
    setStatus(`Share this link: ${location.href}`);
  }
});

window.addEventListener("hashchange", () => {
  if (location.hash === formatHash(app.state)) return; // our own update
  app.state = parseHash(location.hash);
  renderSites();
  renderSelected();
  applyStateToControls();
  search();
  draw();
});

// ---- the chart ---------------------------------------------------------------------------

/** The API request of the current state (what `__vitalsChart.request` shows). */
function buildRequest() {
  const s = app.state;
  const [start, end] = currentRange();
  const params = { site: s.site, points: [...s.points], start, end, interval: s.interval };
  if (s.interval !== "raw") params.agg = s.aggs.join(",");
  if (app.caps.params.has("tz")) params.tz = "site";
  if (app.caps.params.has("unit") && s.unit) params.unit = s.unit;
  // Per-series quality costs the server a look at every day's report: asked on request.
  if (app.caps.params.has("quality") && s.quality) params.quality = "true";
  return params;
}

/**
 * The value arrays of one series: the aggregates asked for (or `v`), else any array as long
 * as `t` holding only numbers and nulls (never `not_applicable` and other descriptions).
 */
function valueColumns(series, body) {
  const asked = body.interval === "raw" ? ["v"] : [...app.state.aggs, "v"];
  const named = asked.filter((k) => Array.isArray(series[k]));
  if (named.length) return named;
  return Object.keys(series).filter(
    (k) =>
      !SERIES_META.has(k) &&
      Array.isArray(series[k]) &&
      series[k].length === series.t.length &&
      series[k].every((v) => v === null || typeof v === "number"),
  );
}

/** The answer's series as one table on the union of their timestamps (ms). */
function buildTable(body) {
  const parts = [];
  const columns = [];
  body.series.forEach((series, index) => {
    const names = valueColumns(series, body);
    const unit = series.unit || app.meta.get(series.point)?.unit || app.meta.get(series.point)?.units || "";
    parts.push([series.t, ...names.map((n) => series[n])]);
    for (const name of names) {
      columns.push({
        point: series.point,
        agg: name,
        label: name === "v" ? series.point : `${series.point} ${name}`,
        unit,
        color: COLORS[index % COLORS.length],
        dash: DASHES[name] || [],
        values: null,
        shown: true,
      });
    }
  });
  if (!parts.length) return { t: [], columns: [] };
  const joined = uPlot.join(parts);
  const t = Array.from(joined[0]);
  columns.forEach((column, i) => {
    column.values = Array.from(joined[i + 1], (v) => (v === undefined ? null : v));
  });
  return { t, columns };
}

function chartSize() {
  const width = Math.max(320, ui.chart.clientWidth || 800);
  return { width, height: Math.max(260, Math.min(520, Math.round(width * 0.45))) };
}

function chartOptions(table, tz, [start, end]) {
  const units = [...new Set(table.columns.map((c) => c.unit || "value"))];
  // The x axis first spans the range asked for (an empty stretch shows as empty); once
  // drawn, a drag zooms in as usual.
  const scales = {
    x: { time: true, range: (u, min, max) => (u.status === 1 ? [min, max] : [start / 1000, end / 1000]) },
  };
  for (const unit of units) scales[unit] = { auto: true };
  return {
    ...chartSize(),
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), tz),
    scales,
    series: [
      { label: `time (${tz})`, value: (_u, v) => (v === null ? "–" : formatLocal(tz, v * 1000)) },
      ...table.columns.map((c) => ({
        label: c.label,
        scale: c.unit || "value",
        stroke: c.color,
        dash: c.dash,
        width: 1.5,
        points: { show: false },
        value: (_u, v) => (v === null || v === undefined ? "–" : `${+v.toPrecision(6)}${c.unit ? " " + c.unit : ""}`),
      })),
    ],
    axes: [
      {},
      ...units.map((unit, i) => ({
        scale: unit,
        side: i % 2 === 0 ? 3 : 1,
        label: unit === "value" ? "" : unit,
        grid: { show: i === 0 },
      })),
    ],
    hooks: {
      setScale: [
        (u, key) => {
          if (key !== "x" || u.status !== 1 || !window.__vitalsChart) return;
          const { min, max } = u.scales.x;
          const zoomed = min > start / 1000 || max < end / 1000;
          window.__vitalsChart.view = zoomed ? [min * 1000, max * 1000] : null;
        },
      ],
      setSeries: [
        (u, index) => {
          if (index) table.columns[index - 1].shown = u.series[index].show;
        },
      ],
    },
  };
}

/** A table of what the answer says about each series (unit, mode, quality), if anything. */
function renderQuality(body) {
  const describe = (s) => {
    const parts = [];
    if (s.unit) parts.push(`unit: ${s.unit}${s.converted_from ? ` (converted from ${s.converted_from})` : ""}`);
    if (s.history_mode) parts.push(`mode: ${s.history_mode}${s.history_mode_source ? ` (${s.history_mode_source})` : ""}`);
    if (s.avg_kind) parts.push(`avg: ${s.avg_kind}`);
    if (Array.isArray(s.not_applicable) && s.not_applicable.length) parts.push(`n/a: ${s.not_applicable.join(", ")}`);
    return parts.join(" · ");
  };
  const rows = body.series
    .map((s) => [s, describe(s), s.quality && typeof s.quality === "object" ? qualityText(s.quality) : ""])
    .filter(([, info, quality]) => info || quality)
    .map(([s, info, quality]) =>
      el("tr", {}, el("td", { class: "point-name" }, s.point), el("td", {}, info), el("td", {}, quality)),
    );
  ui.quality.hidden = rows.length === 0;
  ui.quality.replaceChildren(
    ...(rows.length
      ? [
          el("caption", {}, "Series"),
          el("tr", {}, el("th", {}, "point"), el("th", {}, "what the API says"), el("th", {}, "data quality")),
          ...rows,
        ]
      : []),
  );
}

async function draw() {
  const seq = ++app.drawSeq;
  history.replaceState(null, "", formatHash(app.state));
  const s = app.state;
  if (!s.site || !s.points.length) {
    app.chart?.destroy();
    app.chart = null;
    app.table = null;
    ui.csv.disabled = true;
    setStatus(s.site ? "Search for points and add them to the chart." : "No sites yet.");
    return;
  }
  let tz = siteTz();
  const params = buildRequest();
  setStatus("Loading…");
  const requested = performance.now();
  let answer;
  try {
    answer = await getJson("/v1/timeseries", params);
  } catch (error) {
    if (seq === app.drawSeq) handleError(error);
    return;
  }
  if (seq !== app.drawSeq) return; // the user changed something meanwhile
  const zone = answer.body.tz;
  if (zone && zone !== tz && validZone(zone)) {
    // The API knows the site's zone (tz=site): adopt it. A preset's days are the site's
    // local days, so ask again for the range in that zone; an absolute range stands.
    const site = app.sites.find((x) => x.name === s.site);
    if (site) site.tz = zone;
    ui.siteTz.textContent = `times in ${zone}${answer.body.tz_source ? ` (${answer.body.tz_source})` : ""}`;
    applyStateToControls(); // the range inputs now show the site's wall time
    if (s.range) return draw();
    tz = zone;
  }
  const received = performance.now();
  const table = buildTable(answer.body);
  app.chart?.destroy();
  const data = [table.t.map((ms) => ms / 1000), ...table.columns.map((c) => c.values)];
  app.chart = new uPlot(chartOptions(table, tz, [params.start, params.end]), data, ui.chart);
  app.table = table;
  renderQuality(answer.body);
  ui.csv.disabled = false;
  // Drawn once the browser has painted the canvas uPlot filled.
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  if (seq !== app.drawSeq) return;
  const drawn = performance.now();
  const values = table.columns.reduce((n, c) => n + c.values.filter((v) => v !== null).length, 0);
  const interval = answer.body.interval || s.interval;
  setStatus(
    `${table.columns.length} series, ${values.toLocaleString("en-US")} values at ${interval}` +
      ` · API ${(received - requested).toFixed(0)} ms (server ${answer.headers.get("x-query-time-ms") ?? "?"} ms,` +
      ` cache ${answer.headers.get("x-cache-hit") ?? "?"}) · drawn in ${(drawn - received).toFixed(0)} ms`,
  );
  // What the chart draws, for tests and for anyone checking a chart against the API.
  window.__vitalsChart = {
    seq,
    request: { path: "/v1/timeseries", params },
    url: answer.url,
    tz,
    interval,
    table,
    view: null, // the visible span in ms once zoomed in (the CSV holds only that)
    answer: answer.body,
    timing: {
      fetch_ms: received - requested,
      draw_ms: drawn - received,
      request_to_drawn_ms: drawn - requested,
      since_navigation_ms: drawn,
    },
  };
  document.body.dataset.drawn = String(seq);
}

new ResizeObserver(() => {
  if (app.chart) app.chart.setSize(chartSize());
}).observe(ui.chart);

// ---- CSV ---------------------------------------------------------------------------------

ui.csv.addEventListener("click", () => {
  if (!app.table) return;
  const text = tableToCsv(app.table, siteTz(), window.__vitalsChart?.view || null);
  const [start, end] = currentRange();
  const stamp = (ms) => new Date(ms).toISOString().replace(/[:]/g, "").replace(/\.000Z$/, "Z");
  const link = el("a", {
    href: URL.createObjectURL(new Blob([text], { type: "text/csv" })),
    download: `vitals-${app.state.site}-${stamp(start)}-${stamp(end)}.csv`,
  });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
});

// ---- start -------------------------------------------------------------------------------

function handleError(error) {
  if (error instanceof AuthError) {
    storeKey("");
    askForKey(error.message);
    return;
  }
  setStatus(error.message || String(error), "error");
}

async function start() {
  try {
    // The vocabulary and the sites in parallel; then the chart of a shared link and the
    // point list load side by side (the chart does not wait for the search).
    const [caps, sites] = await Promise.all([
      app.caps || capabilities(),
      getJson("/v1/sites", {}, storedKey()),
    ]);
    app.caps = caps;
    ui.forgetKey.hidden = !storedKey();
    app.sites = normaliseSites(sites.body.sites);
    renderControls();
    renderSites();
    renderSelected();
    applyStateToControls();
    await Promise.all([draw(), search()]);
  } catch (error) {
    handleError(error);
  }
}

start();
