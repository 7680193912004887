// The chart's state as the URL's hash, so a chart can be shared: the hash never reaches
// the server (no point names in access logs) and the API key is never part of it.
//
//   #site=bldg_a&p=AHU-1/SAT&p=AHU-1/RAT&range=7d&interval=auto&agg=avg,max
//   #site=bldg_a&p=...&start=2026-11-01T04:00:00.000Z&end=2026-11-08T05:00:00.000Z&unit=°F

export const DEFAULT_STATE = Object.freeze({
  site: "",
  points: [],
  range: "7d",
  start: null,
  end: null,
  interval: "auto",
  aggs: ["avg"],
  unit: "",
  quality: false,
});

function isoMs(text) {
  if (!text) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : null;
}

/** The state a hash (with or without its `#`) describes; missing fields are defaults. */
export function parseHash(hash) {
  const params = new URLSearchParams((hash || "").replace(/^#/, ""));
  const state = { ...DEFAULT_STATE, points: [], aggs: [...DEFAULT_STATE.aggs] };
  state.site = params.get("site") || "";
  state.points = params.getAll("p").filter(Boolean);
  const start = isoMs(params.get("start"));
  const end = isoMs(params.get("end"));
  if (start !== null && end !== null) {
    state.range = null;
    state.start = start;
    state.end = end;
  } else if (params.get("range")) {
    state.range = params.get("range");
  }
  if (params.get("interval")) state.interval = params.get("interval");
  if (params.has("agg")) {
    state.aggs = params.get("agg").split(",").filter(Boolean);
  }
  state.unit = params.get("unit") || "";
  state.quality = params.get("quality") === "1";
  return state;
}

/** The hash (with its `#`) of `state`; `parseHash(formatHash(s))` gives `s` back. */
export function formatHash(state) {
  const params = new URLSearchParams();
  if (state.site) params.set("site", state.site);
  for (const p of state.points) params.append("p", p);
  if (state.range) {
    params.set("range", state.range);
  } else if (state.start !== null && state.end !== null) {
    params.set("start", new Date(state.start).toISOString());
    params.set("end", new Date(state.end).toISOString());
  }
  params.set("interval", state.interval);
  if (state.interval !== "raw") params.set("agg", state.aggs.join(","));
  if (state.unit) params.set("unit", state.unit);
  if (state.quality) params.set("quality", "1");
  return "#" + params.toString();
}
