// Wall-clock time in a site's time zone, with nothing but Intl: range presets are local
// days (a DST day lasts 23 or 25 hours), and a free range is typed in the site's time.

const formatters = new Map();

function formatter(tz) {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(tz, f);
  }
  return f;
}

/** Whether the browser knows the IANA zone `tz`. */
export function validZone(tz) {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock fields of instant `ms` in `tz` (month 0-based, like Date). */
export function wallParts(tz, ms) {
  const parts = {};
  for (const p of formatter(tz).formatToParts(new Date(ms))) parts[p.type] = p.value;
  return {
    y: +parts.year,
    mo: +parts.month - 1,
    d: +parts.day,
    h: +parts.hour % 24,
    mi: +parts.minute,
    s: +parts.second,
  };
}

/** Local minus UTC at instant `ms`, in milliseconds. */
export function offsetMs(tz, ms) {
  const w = wallParts(tz, ms);
  const whole = Math.floor(ms / 1000) * 1000;
  return Date.UTC(w.y, w.mo, w.d, w.h, w.mi, w.s) - whole;
}

/**
 * The instant of a wall-clock time in `tz`. Fields overflow as in Date.UTC (day 0 is the
 * last of the previous month). A time skipped by a DST change resolves forward; a time
 * that occurs twice gives the first.
 */
export function zonedToUtc(tz, y, mo, d, h = 0, mi = 0) {
  const wall = Date.UTC(y, mo, d, h, mi);
  const day = 86_400_000;
  const candidates = [...new Set([wall - offsetMs(tz, wall - day), wall - offsetMs(tz, wall + day)])];
  const shows = (t) => {
    const w = wallParts(tz, t);
    return Date.UTC(w.y, w.mo, w.d, w.h, w.mi) === wall;
  };
  const exact = candidates.filter(shows);
  return exact.length ? Math.min(...exact) : Math.max(...candidates);
}

export const PRESETS = {
  today: "Today",
  yesterday: "Yesterday",
  "7d": "Last 7 days",
  "12m": "Last 12 months",
};

/** [start, end) in epoch ms of a preset, as local days of `tz` at instant `now`. */
export function presetRange(name, tz, now = Date.now()) {
  const w = wallParts(tz, now);
  const day = (offset) => zonedToUtc(tz, w.y, w.mo, w.d + offset);
  switch (name) {
    case "today":
      return [day(0), day(1)];
    case "yesterday":
      return [day(-1), day(0)];
    case "7d":
      return [day(-6), day(1)];
    case "12m":
      return [zonedToUtc(tz, w.y - 1, w.mo, w.d + 1), day(1)];
    default:
      throw new Error(`unknown range preset ${name}`);
  }
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** `YYYY-MM-DDTHH:MM` in `tz` (the value of an <input type="datetime-local">). */
export function toLocalInput(tz, ms) {
  const w = wallParts(tz, ms);
  return `${w.y}-${pad(w.mo + 1)}-${pad(w.d)}T${pad(w.h)}:${pad(w.mi)}`;
}

/** Epoch ms of an <input type="datetime-local"> value read as wall time in `tz`. */
export function fromLocalInput(tz, text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(text || "");
  if (!m) return null;
  return zonedToUtc(tz, +m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
}

/** `YYYY-MM-DD HH:MM:SS` in `tz` (CSV and tables). */
export function formatLocal(tz, ms) {
  const w = wallParts(tz, ms);
  return `${w.y}-${pad(w.mo + 1)}-${pad(w.d)} ${pad(w.h)}:${pad(w.mi)}:${pad(w.s)}`;
}
