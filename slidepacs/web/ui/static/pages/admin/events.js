// Scanner events (lab admins and admins): errors and worse that scanners sent to the event
// receiver, newest first, filtered by scanner, minimum severity and time, page by page, with
// a CSV export of the same filter and the receiver's counters. The filters and the page are
// in the address (#/admin/events?scanner=…&severity=…&since=…&until=…&page=…).
import { api, esc } from "../../api.js";
import { navigateWith, number, when } from "./common.js";

const SIZE = 50;
const SEVERITIES = ["emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"];
const FILTERS = ["scanner", "severity", "since", "until"];

// A datetime-local value (the browser's local time) as ISO 8601 UTC for the API.
function utc(local) {
  const date = new Date(local);
  return local && !Number.isNaN(date.getTime()) ? date.toISOString() : "";
}

function apiQuery(filters) {
  const query = new URLSearchParams();
  if (filters.scanner) query.set("scanner", filters.scanner);
  if (filters.severity) query.set("severity", filters.severity);
  if (filters.since) query.set("since", utc(filters.since));
  if (filters.until) query.set("until", utc(filters.until));
  return query;
}

function counters(receiver) {
  const state = !receiver.enabled ? "off" : receiver.running ? "running" : "not running in this process";
  const items = [["received", receiver.received], ["stored (errors)", receiver.stored],
    ["malformed", receiver.malformed], ["oversized", receiver.oversized],
    ["connections open", receiver.connections_open], ["refused", receiver.connections_refused],
    ["TLS failures", receiver.tls_failures], ["queued", receiver.queued]];
  return `<p class="muted" id="events-receiver-state">Event receiver ${esc(state)} on
      ${esc(receiver.host)}: port ${receiver.port || "off"} (plain), ${receiver.tls_port || "off"} (TLS)</p>
    <div class="stats" id="events-counters">${items.map(([label, value]) => `
      <div class="stat card" data-counter="${esc(label)}"><b>${number(value)}</b><span>${esc(label)}</span></div>`).join("")}
    </div>`;
}

export async function render(root, params, ctx) {
  const filters = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) || ""]));
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  const query = apiQuery(filters);
  const csv = `/viewer/api/admin/events.csv?${query}`;
  query.set("limit", String(SIZE));
  query.set("offset", String((page - 1) * SIZE));
  const [found, receiver] = await Promise.all([api(`admin/events?${query}`), api("admin/events/receiver")]);
  root.innerHTML = `
    ${counters(receiver)}
    <form id="events-form" class="toolbar">
      <label>Scanner <input name="scanner" value="${esc(filters.scanner)}" maxlength="64"></label>
      <label>Severity <select name="severity">
        <option value="">any</option>
        ${SEVERITIES.map((name) => `<option value="${name}" ${name === filters.severity ? "selected" : ""}>${name} or worse</option>`).join("")}
      </select></label>
      <label>From <input type="datetime-local" name="since" value="${esc(filters.since)}"></label>
      <label>To <input type="datetime-local" name="until" value="${esc(filters.until)}"></label>
      <button type="submit">Filter</button>
      <button type="button" class="secondary" id="events-clear">Clear</button>
      <a id="events-csv" href="${esc(csv)}" download="scanner-events.csv">Export CSV</a>
    </form>
    <p class="muted">${number(found.total)} event(s) in the index (errors and worse; every event is in the event log file).</p>
    <div class="table-wrap"><table id="events-table">
      <thead><tr><th>Received</th><th>Scanner</th><th>Severity</th><th>Code</th><th>Message</th><th>From</th></tr></thead>
      <tbody>${found.events.length ? found.events.map((event) => `<tr data-severity="${esc(event.severity)}">
        <td class="nowrap" title="sent ${esc(event.time || "–")}">${when(event.received)}</td><td>${esc(event.scanner)}</td>
        <td><span class="severity severity-${esc(event.severity)}">${esc(event.severity)}</span></td>
        <td><code>${esc(event.code)}</code></td><td>${esc(event.message)}</td><td>${esc(event.address)}</td></tr>`).join("")
        : '<tr><td colspan="6" class="muted">No event.</td></tr>'}</tbody>
    </table></div>
    <div class="pager">
      <button type="button" class="secondary" id="events-prev" ${page > 1 ? "" : "disabled"}>Newer</button>
      <span>Page ${page}</span>
      <button type="button" class="secondary" id="events-next" ${page * SIZE < found.total ? "" : "disabled"}>Older</button>
    </div>`;
  const go = (values) => navigateWith(ctx, "#/admin/events", values);
  const form = root.querySelector("#events-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(Object.fromEntries(FILTERS.map((name) => [name, form[name].value.trim()])));
  });
  root.querySelector("#events-clear").addEventListener("click", () => go({}));
  root.querySelector("#events-prev").addEventListener("click", () => go({ ...filters, page: page > 2 ? String(page - 1) : "" }));
  root.querySelector("#events-next").addEventListener("click", () => go({ ...filters, page: String(page + 1) }));
}
