// The query API, same-origin, with the key from sessionStorage (kept for this browser tab
// only, never in the URL or localStorage).

const KEY = "vitals.apiKey";
const TIMEOUT_MS = 60_000;

export class AuthError extends Error {}

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export function storedKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function storeKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** GET `path` (with `params`: an object whose array values repeat) as parsed JSON. */
export async function getJson(path, params = {}, key = storedKey()) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) query.append(name, String(item));
  }
  const url = query.toString() ? `${path}?${query}` : path;
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  let answer;
  try {
    answer = await fetch(url, {
      headers,
      credentials: "omit",
      cache: "default",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    if (error.name === "TimeoutError") {
      throw new ApiError(0, "timeout", `the API did not answer ${path} within ${TIMEOUT_MS / 1000} s`);
    }
    throw new ApiError(0, "network", `the API could not be reached (${error.message})`);
  }
  if (answer.status === 401) {
    const body = await answer.json().catch(() => ({}));
    throw new AuthError(body.detail || "API key needed");
  }
  if (!answer.ok) {
    const body = await answer.json().catch(() => ({}));
    throw new ApiError(answer.status, body.error, body.detail);
  }
  return { url, body: await answer.json(), headers: answer.headers };
}

/** The first `items.enum` inside a JSON schema (through anyOf / oneOf nesting). */
function itemsEnum(schema) {
  if (!schema || typeof schema !== "object") return null;
  if (Array.isArray(schema.items?.enum)) return schema.items.enum;
  for (const option of [...(schema.anyOf || []), ...(schema.oneOf || [])]) {
    const found = itemsEnum(option);
    if (found) return found;
  }
  return null;
}

/**
 * What the API offers, read from its OpenAPI document: intervals, aggregates, units, and
 * the optional parameters (`tz`, `unit`, `quality`) newer servers take. Falls back to the
 * v1 vocabulary if the document cannot be read.
 */
export async function capabilities() {
  const fallback = {
    intervals: ["raw", "1m", "5m", "15m", "1h", "1d", "auto"],
    aggs: ["avg", "min", "max", "last"],
    params: new Set(["site", "points", "start", "end", "interval", "agg", "fill", "max_gap", "format"]),
    units: [],
  };
  try {
    const { body } = await getJson("/openapi.json", {}, "");
    const get = body.paths["/v1/timeseries"].get.parameters;
    const params = new Set(get.map((p) => p.name));
    const interval = get.find((p) => p.name === "interval");
    const intervals = interval?.schema?.enum || fallback.intervals;
    const aggs = itemsEnum(body.components?.schemas?.TimeseriesRequest?.properties?.agg) || fallback.aggs;
    // Temperature units the server converts to; of aliases (degF, °F) show the symbols.
    const unitEnum = get.find((p) => p.name === "unit")?.schema?.enum || [];
    const symbols = unitEnum.filter((u) => u.startsWith("°"));
    const units = symbols.length ? symbols : unitEnum;
    return { intervals, aggs, params, units };
  } catch {
    return fallback;
  }
}
