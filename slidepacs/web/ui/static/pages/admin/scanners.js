// Scanners: the registered slide scanners with their status (ONLINE while heartbeats arrive),
// an Add form (the token is shown once), New token and Remove; and each scanner's "Images"
// page (#/admin/scanners/<name>) with every setting, a short help for each and Save (the
// server's reason is shown next to the form when it refuses; nothing is saved then).
import { api, esc } from "../../api.js";
import { busy, showError, when } from "./common.js";

const LABELS = {
  hostname: "Hostname", port: "Port", title: "Title (called AE)",
  file_location: "File location", image_filename_format: "Image filename format",
  barcode_value_identifier: "Barcode value identifier",
  barcode_value_modifier: "Barcode value modifier",
  barcode_value_substitution_format: "Barcode value substitution format",
  image_output_format: "Image output format", slide_id_format: "Slide ID format",
  case_id_format: "Case ID format", dimension_organization: "Dimension organization",
  require_barcode_id: "Require barcode ID",
};
const CHOICES = { image_output_format: ["DICOM", "SVS"], dimension_organization: ["FULL", "SPARSE"] };

export async function render(root, params, ctx) {
  const name = ctx.sub[1];
  return name ? renderImages(root, decodeURIComponent(name)) : renderList(root);
}

async function renderList(root) {
  root.innerHTML = `
    <form id="scanner-form" class="toolbar" autocomplete="off">
      <label>Name <input name="name" required maxlength="64" placeholder="Lab 1"></label>
      <label>AE title <input name="ae_title" required maxlength="16" placeholder="GT450_LAB1"
        title="The calling AE title the scanner sends slides with"></label>
      <label>Model <input name="model" maxlength="64" placeholder="Aperio GT 450 DX"></label>
      <label>Serial <input name="serial" maxlength="64"></label>
      <button type="submit">Add scanner</button>
    </form>
    <p class="error" id="scanner-error" role="alert" hidden></p>
    <p class="notice" id="scanner-token" hidden></p>
    <div class="table-wrap"><table id="scanner-table">
      <thead><tr><th>Name</th><th>AE title</th><th>Model</th><th>Serial</th><th>Software</th>
        <th>Status</th><th>Last contact</th><th>Clock skew</th><th>Actions</th></tr></thead>
      <tbody></tbody>
    </table></div>
    <p class="muted" id="scanner-api"></p>`;
  const error = root.querySelector("#scanner-error");
  const secret = root.querySelector("#scanner-token");
  const form = root.querySelector("#scanner-form");

  function reveal(scanner, token) {
    secret.innerHTML = `Token of <b>${esc(scanner)}</b>: <code class="secret">${esc(token)}</code>
      — shown once: copy it now (select it and press Ctrl+C) into the scanner's settings
      (<code>Authorization: Bearer …</code>). Only its digest is kept.`;
    secret.hidden = false;
  }

  async function load() {
    const data = await api("admin/scanners");
    const body = root.querySelector("#scanner-table tbody");
    body.innerHTML = data.scanners.length ? data.scanners.map((s) => `
      <tr data-scanner="${esc(s.name)}">
        <td><a href="#/admin/scanners/${encodeURIComponent(s.name)}">${esc(s.name)}</a></td>
        <td><code>${esc(s.ae_title)}</code></td><td>${esc(s.model || "–")}</td>
        <td>${esc(s.serial || "–")}</td><td>${esc(s.software_version || "–")}</td>
        <td><span class="badge ${s.status === "ONLINE" ? "online" : "offline"}">${esc(s.status)}</span>
          ${s.state ? `<small class="muted">${esc(s.state)}</small>` : ""}</td>
        <td class="nowrap">${when(s.last_contact_at)}</td>
        <td>${s.clock_skew_seconds === null ? "–" : `${s.clock_skew_seconds.toFixed(1)} s`}</td>
        <td class="actions"><a class="button secondary" href="#/admin/scanners/${encodeURIComponent(s.name)}">Images</a>
          <button type="button" class="secondary token">New token</button>
          <button type="button" class="danger remove">Remove</button></td></tr>`).join("")
      : '<tr><td colspan="9" class="muted">No scanner is registered.</td></tr>';
    const apiInfo = data.api;
    root.querySelector("#scanner-api").innerHTML = apiInfo.enabled
      ? `Scanners reach the scanner API at <code>${apiInfo.tls ? "https" : "http"}://${esc(apiInfo.host)}:${apiInfo.port}/api/v1</code>;
         a scanner is OFFLINE when not heard from for ${data.heartbeat_timeout_seconds} s.`
      : "The scanner API is disabled (<code>scanner_api.enabled = false</code>).";
    for (const row of body.querySelectorAll("tr[data-scanner]")) {
      const scanner = row.dataset.scanner;
      const path = `admin/scanners/${encodeURIComponent(scanner)}`;
      row.querySelector(".token").addEventListener("click", async (event) => {
        if (!confirm(`Make a new token for ${scanner}? The old one stops working at once.`)) return;
        const made = await busy(event.target, error, () => api(`${path}/token`, { method: "POST" }));
        if (made) reveal(scanner, made.token);
      });
      row.querySelector(".remove").addEventListener("click", async (event) => {
        if (!confirm(`Remove the scanner ${scanner}? Its token stops working.`)) return;
        const done = await busy(event.target, error, () => api(path, { method: "DELETE" }));
        if (done) await load();
      });
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = Object.fromEntries(["name", "ae_title", "model", "serial"].map((key) => [key, data.get(key)]));
    const added = await busy(form.querySelector("button"), error,
      () => api("admin/scanners", { method: "POST", body }));
    if (added) {
      form.reset();
      reveal(added.name, added.token);
      await load();
    }
  });
  showError(error, null);
  await load();
}

async function renderImages(root, scanner) {
  const path = `admin/scanners/${encodeURIComponent(scanner)}/images`;
  const data = await api(path);
  root.innerHTML = `
    <p><a href="#/admin/scanners">← Scanners</a></p>
    <h2>Images settings of ${esc(data.scanner)} <small class="muted">(AE <code>${esc(data.ae_title)}</code>,
      configuration version <span id="images-version">${data.version}</span>)</small></h2>
    <p class="muted">The scanner picks changes up on its next configuration pull; they apply to
      every slide it stores from then on.</p>
    <form id="images-form" class="settings-form" autocomplete="off">
      ${data.fields.map((field) => row(field, data.images[field.name])).join("")}
      <div class="form-buttons"><button type="submit">Save</button>
        <span class="ok" id="images-saved" hidden>Saved.</span></div>
    </form>
    <p class="error" id="images-error" role="alert" hidden></p>`;
  const form = root.querySelector("#images-form");
  const error = root.querySelector("#images-error");
  const saved = root.querySelector("#images-saved");
  form.addEventListener("input", () => { saved.hidden = true; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    saved.hidden = true;
    const body = {};
    for (const field of data.fields) {
      const input = form.elements[field.name];
      body[field.name] = input.type === "checkbox" ? input.checked
        : field.name === "port" ? Number(input.value) : input.value;
    }
    const result = await busy(form.querySelector("button[type=submit]"), error,
      () => api(path, { method: "PUT", body }));
    if (result) {
      root.querySelector("#images-version").textContent = result.version;
      saved.hidden = false;
    }
  });
  showError(error, null);
}

function row(field, value) {
  const id = `images-${field.name}`;
  const help = `<span class="help" title="${esc(field.help)}" aria-hidden="true">i</span>`;
  let input;
  if (field.name === "require_barcode_id") {
    input = `<input type="checkbox" id="${id}" name="${field.name}" ${value ? "checked" : ""}>`;
  } else if (CHOICES[field.name]) {
    input = `<select id="${id}" name="${field.name}">${CHOICES[field.name].map((choice) =>
      `<option ${choice === value ? "selected" : ""}>${choice}</option>`).join("")}</select>`;
  } else {
    const type = field.name === "port" ? 'type="number" min="1" max="65535"' : 'type="text"';
    input = `<input ${type} id="${id}" name="${field.name}" value="${esc(String(value ?? ""))}" spellcheck="false">`;
  }
  return `<div class="setting" data-field="${field.name}">
      <label for="${id}">${esc(LABELS[field.name] || field.name)} ${help}</label>
      ${input}<small class="muted field-help">${esc(field.help)}</small></div>`;
}
