// The overview page: every VM in a line, and the cluster members, refreshed on each event.
"use strict";

function renderOverview(doc) {
  document.getElementById("node").textContent = `served by ${doc.node}`;
  const error = document.getElementById("overview-error");
  error.hidden = !doc.error;
  error.textContent = doc.error ? `VM list unavailable: ${doc.error}` : "";

  const body = document.querySelector("#vms tbody");
  body.replaceChildren();
  for (const vm of doc.vms) {
    const row = document.createElement("tr");
    row.dataset.vm = vm.name;
    const link = document.createElement("a");
    link.href = `/vm/${encodeURIComponent(vm.name)}`;
    link.textContent = vm.name;
    cell(row, link);
    stateCell(row, vm.state).title = vm.error ?? (vm.paused ? "guest paused" : "");
    cell(row, vm.generation, "generation");
    cell(row, vm.primary, "primary");
    cell(row, vm.secondary, "secondary");
    cell(row, fmt.ms(vm.lagMs), "interval");
    cell(row, fmt.bandwidth(vm.logBytesPerSecond), "bandwidth");
    cell(row, fmt.rate(vm.outputsPerSecond), "rps");
    cell(row, fmt.rate(vm.mipsRate), "mips");
    body.appendChild(row);
  }
  document.getElementById("no-vms").hidden = doc.vms.length > 0 || !!doc.error;

  const members = document.querySelector("#members tbody");
  members.replaceChildren();
  for (const m of doc.members) {
    const row = document.createElement("tr");
    row.dataset.node = m.node;
    cell(row, m.node + (m.self ? " (this node)" : "") + (m.leader ? " (leader)" : ""));
    cell(row, m.status);
    cell(row, m.roles.length ? m.roles.join(", ") : "-");
    cell(row, m.reachable ? "yes" : "NO", m.reachable ? "" : "error");
    cell(row, m.primaries, "primaries");
    cell(row, m.secondaries, "secondaries");
    members.appendChild(row);
  }
}

live("/api/events", renderOverview);
