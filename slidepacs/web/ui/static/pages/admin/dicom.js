// DICOM: the local AE (provider) and the registered remote AEs ("DICOM users"), with an Add
// form and per-row Echo (result shown inline with its time) and Remove buttons.
import { api, esc } from "../../api.js";
import { busy, message, showError } from "./common.js";

export async function render(root) {
  root.innerHTML = `
    <h2>Provider (this archive)</h2>
    <div id="dicom-provider"></div>
    <h2>Users (registered AEs)</h2>
    <form id="ae-form" class="toolbar" autocomplete="off">
      <label>Name <input name="name" required maxlength="64" placeholder="reading-room-1"></label>
      <label>AE title <input name="ae_title" required maxlength="16" placeholder="VIEWER1"></label>
      <label>Host <input name="host" required maxlength="255" placeholder="10.0.0.5"></label>
      <label>Port <input name="port" required type="number" min="1" max="65535" value="104"></label>
      <button type="submit">Add AE</button>
    </form>
    <p class="error" id="ae-error" role="alert" hidden></p>
    <div class="table-wrap"><table id="ae-table">
      <thead><tr><th>Name</th><th>AE title</th><th>Host</th><th>Port</th><th>Registered</th>
        <th>Actions</th><th>Echo result</th></tr></thead>
      <tbody></tbody>
    </table></div>`;
  const error = root.querySelector("#ae-error");
  const form = root.querySelector("#ae-form");
  const echoes = new Map();  // AE name → last echo result (kept when the table reloads)

  async function load() {
    const dicom = await api("admin/dicom");
    root.querySelector("#dicom-provider").innerHTML = provider(dicom.provider);
    const body = root.querySelector("#ae-table tbody");
    body.innerHTML = dicom.aes.length ? dicom.aes.map((ae) => `
      <tr data-ae="${esc(ae.name)}">
        <td>${esc(ae.name)}</td><td><code>${esc(ae.ae_title)}</code></td><td>${esc(ae.host)}</td>
        <td>${ae.port}</td><td>${ae.auto_registered ? "automatically" : "by admin"}</td>
        <td class="actions"><button type="button" class="secondary echo">Echo</button>
          <button type="button" class="danger remove">Remove</button></td>
        <td class="echo-result muted">–</td></tr>`).join("")
      : '<tr><td colspan="7" class="muted">No AE is registered.</td></tr>';
    for (const row of body.querySelectorAll("tr[data-ae]")) {
      const name = row.dataset.ae;
      if (echoes.has(name)) show(row.querySelector(".echo-result"), echoes.get(name));
      row.querySelector(".echo").addEventListener("click", (event) => echo(event.target, row, name));
      row.querySelector(".remove").addEventListener("click", async (event) => {
        if (!confirm(`Remove the AE ${name}? It can then no longer associate.`)) return;
        const done = await busy(event.target, error,
          () => api(`admin/aes/${encodeURIComponent(name)}`, { method: "DELETE" }));
        if (done) { echoes.delete(name); await load(); }
      });
    }
  }

  function show(cell, shown) {
    cell.className = `echo-result ${shown.ok ? "ok" : "error"}`;
    cell.textContent = shown.text;
  }

  async function echo(button, row, name) {
    const cell = row.querySelector(".echo-result");
    cell.className = "echo-result muted";
    cell.textContent = "echoing…";
    button.disabled = true;
    try {
      const result = await api(`admin/aes/${encodeURIComponent(name)}/echo`, { method: "POST" });
      const time = `${Math.round(result.milliseconds)} ms`;
      echoes.set(name, { ok: result.ok, text: result.ok ? `✓ success in ${time}`
        : `✗ ${result.error} (after ${time})` });
    } catch (failure) {
      echoes.set(name, { ok: false, text: `✗ ${message(failure)}` });
    } finally {
      show(cell, echoes.get(name));
      button.disabled = false;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { name: data.get("name"), ae_title: data.get("ae_title"), host: data.get("host"),
      port: Number(data.get("port")) };
    const added = await busy(form.querySelector("button"), error,
      () => api("admin/aes", { method: "POST", body }));
    if (added) {
      form.reset();
      await load();
    }
  });
  showError(error, null);
  await load();
}

function provider(local) {
  const receiver = local.slide_receiver;
  const tls = (on, client) => on ? `TLS${client ? ", client certificate required" : ""}` : "no TLS";
  return `<div class="table-wrap"><table id="provider-table">
    <thead><tr><th>Listener</th><th>AE title</th><th>Address</th><th>Security</th></tr></thead>
    <tbody>
      <tr><td>DICOM (query, retrieve, store)</td><td><code>${esc(local.ae_title)}</code></td>
        <td>${esc(local.host)}:${local.port}</td><td>${tls(local.tls, local.require_client_certificate)}</td></tr>
      <tr><td>Slide receiver</td>${receiver.enabled ? `<td><code>${esc(receiver.ae_title)}</code></td>
        <td>${esc(receiver.host)}:${receiver.port}</td><td>${tls(receiver.tls, receiver.require_client_certificate)}</td>`
        : '<td colspan="3" class="muted">disabled</td>'}</tr>
    </tbody></table></div>
    <p class="muted" id="accept-unregistered">Unregistered AEs are ${local.accept_unregistered
      ? "accepted (and registered automatically on their first store)" : "rejected"}
      (<code>dicom.accept_unregistered = ${local.accept_unregistered}</code>).</p>`;
}
