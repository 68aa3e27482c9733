// The page of one VM: its status, live charts, history, and the operation buttons.
"use strict";

const vmName = decodeURIComponent(location.pathname.replace(/^\/vm\//, ""));
document.getElementById("vm-name").textContent = vmName;
document.title = `Lockstep: ${vmName}`;

const charts = {
  interval: new LineChart(document.getElementById("chart-interval")),
  bandwidth: new LineChart(document.getElementById("chart-bandwidth"), { color: "#7a5af8" }),
  throughput: new LineChart(document.getElementById("chart-throughput"), { color: "#067647", format: v => v.toFixed(0) }),
  held: new LineChart(document.getElementById("chart-held"), { color: "#b54708", format: v => v.toFixed(0) }),
  latency: new LineChart(document.getElementById("chart-latency"), { color: "#c11574", format: v => v.toFixed(2) }),
};

function addSamples(samples) {
  const at = s => Date.parse(s.at);
  charts.interval.add(samples.map(s => ({ t: at(s), v: s.lagMs })));
  charts.bandwidth.add(samples.map(s => ({ t: at(s), v: s.logBytesPerSecond / 1024 })));
  charts.throughput.add(samples.map(s => ({ t: at(s), v: s.outputsPerSecond })));
  charts.held.add(samples.map(s => ({ t: at(s), v: s.outputsHeld })));
  charts.latency.add(samples.map(s => ({ t: at(s), v: s.outputLatencyMs, u: s.outputLatencyP99Ms })));
}

function setText(id, text) { document.getElementById(id).textContent = text ?? "-"; }

// The page mixes a fresh status (its first fetch) with the node's polls, and a poll sent just before a failover is
// answered by the old primary after the new one was shown: a status of an earlier generation than the one on the
// page is stale and not shown. Only for a while, so that a VM stopped and created again under the name shows up.
const staleFor = 10000;
let shown = { generation: -1, at: 0 };

function isStale(doc) {
  const at = Date.parse(doc.at);
  return doc.status.generation < shown.generation && at - shown.at < staleFor;
}

function renderStatus(doc) {
  if (doc.status && isStale(doc)) return;
  setText("node", `served by ${doc.node}`);
  const error = document.getElementById("vm-error");
  error.hidden = !doc.error;
  error.textContent = doc.error ?? "";
  const s = doc.status;
  if (!s) return;
  shown = { generation: s.generation, at: Date.parse(doc.at) };
  const state = document.getElementById("state");
  state.textContent = s.state + (s.figures?.paused ? " (guest paused)" : "");
  state.className = `state state-${s.state}`;
  setText("generation", String(s.generation));
  setText("primary", s.primary);
  setText("secondary", s.secondary);
  setText("interval", fmt.ms(s.lagMs));
  setText("bandwidth", fmt.bandwidth(s.logBytesPerSecond));
  setText("instructions", fmt.num(s.instructions));
  setText("outputs", fmt.num(s.outputs));
  setText("held", s.figures ? fmt.num(s.outputs - s.figures.outputsReleased) : "-");
  setText("reprotect", s.figures ? fmt.ms(s.figures.lastReprotectPauseMs) : "-");
  setText("detail", s.detail);
  renderHistory(doc.history);
  renderNodes(doc.members, s);
}

let shownHistory = null;

function renderHistory(history) {
  // Rebuilt only when it changed, so that what the operator selects or reads stays put.
  const key = JSON.stringify(history);
  if (key === shownHistory) return;
  shownHistory = key;
  const body = document.querySelector("#history tbody");
  body.replaceChildren();
  for (const h of [...history].reverse()) {
    const row = document.createElement("tr");
    row.dataset.kind = h.kind;
    cell(row, fmt.time(h.at));
    cell(row, h.kind === "Failover" ? `failover (${h.failoverKind} lost)` : "operation");
    cell(row, h.reason);
    cell(row, h.kind === "Failover" && h.gapMs > 0 ? fmt.ms(h.gapMs) : "-");
    cell(row, h.durationMs > 0 ? fmt.ms(h.durationMs) : "-");
    cell(row, h.tookOver);
    cell(row, h.generation);
    body.appendChild(row);
  }
  document.getElementById("no-history").hidden = history.length > 0;
}

// The migrate choice: every live member, the one holding the primary marked (the gateway refuses it with its reason).
function renderNodes(members, status) {
  const select = document.getElementById("migrate-node");
  const label = node => node + (node === status.primary ? " (primary)" : node === status.secondary ? " (secondary)" : "");
  const wanted = members.map(m => label(m.node));
  // Rebuilt only when something changed, so the operator's choice (and an open list) survives the updates.
  if (wanted.join("|") === [...select.options].map(o => o.textContent).join("|")) return;
  const chosen = select.value;
  select.replaceChildren();
  for (const m of members) {
    const option = document.createElement("option");
    option.value = m.node;
    option.textContent = label(m.node);
    select.appendChild(option);
  }
  if ([...select.options].some(o => o.value === chosen)) select.value = chosen;
  else {
    const free = [...select.options].find(o => o.value !== status.primary && o.value !== status.secondary);
    if (free) select.value = free.value;
  }
}

async function operate(button) {
  const op = button.dataset.op;
  if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
  const answer = document.getElementById("answer");
  const buttons = document.querySelectorAll("button[data-op]");
  buttons.forEach(b => b.disabled = true);
  answer.className = "muted";
  answer.textContent = `${button.textContent}: sent, waiting for the answer...`;
  const init = { method: "POST" };
  if (op === "migrate-secondary" || op === "migrate-primary") {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify({ node: document.getElementById("migrate-node").value });
  }
  try {
    const response = await fetch(`/api/vm/${encodeURIComponent(vmName)}/${op}`, init);
    const body = await response.json();
    answer.className = body.ok ? "ok" : "error";
    answer.dataset.op = op;
    answer.textContent = body.ok
      ? `${button.textContent}: ${body.message || "done"}`
      : `${button.textContent} refused (${body.kind ?? response.status}): ${body.error}`;
  } catch (e) {
    answer.className = "error";
    answer.textContent = `${button.textContent}: no answer from the node (${e})`;
  } finally {
    buttons.forEach(b => b.disabled = false);
  }
}

document.querySelectorAll("button[data-op]").forEach(b => b.addEventListener("click", () => operate(b)));

fetch(`/api/vm/${encodeURIComponent(vmName)}`)
  .then(r => r.json())
  .then(doc => {
    if (doc.samples) addSamples(doc.samples);
    if (doc.status || doc.error) renderStatus(doc);
  })
  .finally(() => live(`/api/vm/${encodeURIComponent(vmName)}/events`, doc => { renderStatus(doc); addSamples(doc.samples); }));
