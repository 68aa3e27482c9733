// Shared by the pages: formatting, table cells, and the live connection (server-sent events).
"use strict";

const fmt = {
  ms: v => v == null ? "-" : `${v.toFixed(1)} ms`,
  num: v => v == null ? "-" : Math.round(v).toLocaleString("en-US"),
  rate: v => v == null ? "-" : v.toFixed(v < 10 ? 1 : 0),
  bandwidth(v) {
    if (v == null) return "-";
    const units = ["B/s", "KiB/s", "MiB/s", "GiB/s"];
    let unit = 0;
    while (v >= 1024 && unit < units.length - 1) { v /= 1024; unit++; }
    return `${unit === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[unit]}`;
  },
  time: at => at ? at.replace("T", " ").replace(/\.\d+Z$|Z$/, "") : "-",
};

function cell(row, text, className) {
  const td = document.createElement("td");
  if (text instanceof Node) td.appendChild(text); else td.textContent = text ?? "-";
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function stateCell(row, state) {
  return cell(row, state ?? "unknown", `state state-${state ?? "unknown"}`);
}

// Opens the event stream at `url` and calls `onData` with each parsed event; the badge shows whether it is live.
function live(url, onData) {
  const badge = document.getElementById("live");
  const source = new EventSource(url);
  source.onopen = () => { badge.textContent = "live"; badge.className = "badge on"; };
  source.onerror = () => { badge.textContent = "reconnecting"; badge.className = "badge off"; };
  source.onmessage = e => onData(JSON.parse(e.data));
  return source;
}
