// CSV of exactly what the chart shows: one row per x value of the drawn table inside the
// visible time span (all of it, or the part zoomed into), one column per visible series,
// empty where a series has no value at that time (RFC 4180 quoting: point names may hold
// commas and quotes).

import { formatLocal } from "./time.js";

function cell(text) {
  const s = String(text);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * @param {{t: number[], columns: {label: string, values: (number|null)[], shown: boolean}[]}} table
 * @param {string} tz the site's time zone, for the local-time column
 * @param {[number, number] | null} view the visible span in epoch ms (inclusive), or all
 */
export function tableToCsv(table, tz, view = null) {
  const columns = table.columns.filter((c) => c.shown);
  const lines = [["timestamp_utc", `local_time_${tz}`, ...columns.map((c) => c.label)].map(cell).join(",")];
  for (let i = 0; i < table.t.length; i++) {
    if (view && (table.t[i] < view[0] || table.t[i] > view[1])) continue;
    const row = [new Date(table.t[i]).toISOString(), formatLocal(tz, table.t[i])];
    for (const c of columns) {
      const v = c.values[i];
      row.push(v === null || v === undefined ? "" : String(v));
    }
    lines.push(row.map(cell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}
