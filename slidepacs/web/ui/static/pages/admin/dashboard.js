// Dashboard: counts, bytes per storage location, arrivals in the last hour, recent errors.
import { api, esc } from "../../api.js";
import { bytes, number, when } from "./common.js";

export async function render(root) {
  const board = await api("admin/dashboard");
  const counts = board.counts;
  const stat = (key, label, value) =>
    `<div class="stat card" data-stat="${key}"><span class="muted">${label}</span><b>${value}</b></div>`;
  root.innerHTML = `
    <div class="stats" id="dashboard-counts">
      ${stat("patients", "Patients", number(counts.patients))}
      ${stat("studies", "Studies", number(counts.studies))}
      ${stat("series", "Series", number(counts.series))}
      ${stat("instances", "Instances", number(counts.instances))}
      ${stat("bytes", "Stored", bytes(counts.bytes))}
      ${stat("last-hour", "Received in the last hour", number(board.received_last_hour))}
    </div>
    <h2>Storage locations</h2>
    <div class="table-wrap"><table id="dashboard-locations">
      <thead><tr><th>Location</th><th>Path</th><th>Used by slidepacs</th><th>Free on disk</th><th>Disk use</th></tr></thead>
      <tbody>${board.locations.map(locationRow).join("")}</tbody>
    </table></div>
    <h2>Recent errors</h2>
    ${board.errors.length ? `<div class="table-wrap"><table id="dashboard-errors">
      <thead><tr><th>When</th><th>Source</th><th>What</th></tr></thead>
      <tbody>${board.errors.map((error) => `<tr>
        <td class="nowrap">${when(error.at)}</td><td>${esc(error.source)}</td>
        <td>${esc(error.summary)}</td></tr>`).join("")}</tbody></table></div>`
      : '<p class="muted" id="dashboard-errors">No recent errors.</p>'}`;
}

export function locationRow(item) {
  const total = item.disk_total_bytes;
  const used = total ? (total - item.disk_free_bytes) / total : null;
  const meter = used === null ? "–" : `<span class="meter" title="${Math.round(used * 100)} % of ${bytes(total)} used">
    <span style="width:${Math.round(used * 100)}%"></span></span> ${Math.round(used * 100)} %`;
  return `<tr><td>${esc(item.role)}</td><td class="path">${esc(item.path)}</td>
    <td>${bytes(item.used_bytes)}</td><td>${bytes(item.disk_free_bytes)}</td><td class="nowrap">${meter}</td></tr>`;
}
