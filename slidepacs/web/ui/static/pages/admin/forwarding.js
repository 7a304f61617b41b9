// Forwarding: the rules (config file ones read-only, stored ones added and removed here) and
// the queue per destination with a Retry button.
import { api, esc } from "../../api.js";
import { busy, list, number, showError, when } from "./common.js";

export async function render(root) {
  root.innerHTML = `
    <h2>Rules</h2>
    <div class="table-wrap"><table id="rule-table">
      <thead><tr><th>Name</th><th>From</th><th>Destination</th><th>Matches</th><th></th></tr></thead>
      <tbody></tbody></table></div>
    <h2>Add a rule</h2>
    <form id="rule-form" class="grid-form" autocomplete="off">
      <label>Name <input name="name" required maxlength="64"></label>
      <label>Destination <select name="destination" required></select></label>
      <label>Modality <input name="modality" placeholder="CT, MR"></label>
      <label>Calling AE title <input name="calling_ae_title" placeholder="SCANNER*"></label>
      <label>SOP Class UID <input name="sop_class_uid" placeholder="1.2.840.10008.5.1.4.1.1.2"></label>
      <label>Tags <input name="tags" placeholder="BodyPartExamined=CHEST"></label>
      <div class="form-end"><button type="submit">Add rule</button></div>
    </form>
    <p class="muted">Patterns are DICOM wildcards (* and ?) or, after <code>re:</code>, regular
      expressions; separate alternatives with commas. An empty criterion matches everything.</p>
    <p class="error" id="rule-error" role="alert" hidden></p>
    <h2>Queue</h2>
    <p class="error" id="queue-error" role="alert" hidden></p>
    <p class="notice" id="queue-notice" hidden></p>
    <div class="table-wrap"><table id="queue-table">
      <thead><tr><th>Destination</th><th>Pending</th><th>Sending</th><th>Done</th><th>Failed</th>
        <th>Next attempt</th><th>Last error</th><th></th></tr></thead>
      <tbody></tbody></table></div>`;
  const ruleError = root.querySelector("#rule-error");
  const queueError = root.querySelector("#queue-error");
  const form = root.querySelector("#rule-form");

  async function load() {
    const [forwarding, dicom] = await Promise.all([api("admin/forwarding"), api("admin/dicom")]);
    form.destination.innerHTML = dicom.aes.length
      ? dicom.aes.map((ae) => `<option value="${esc(ae.name)}">${esc(ae.name)} (${esc(ae.ae_title)})</option>`).join("")
      : '<option value="">register an AE first (DICOM tab)</option>';
    const rules = root.querySelector("#rule-table tbody");
    rules.innerHTML = forwarding.rules.length ? forwarding.rules.map((rule) => `
      <tr data-rule="${esc(rule.name)}"><td>${esc(rule.name)}</td>
        <td>${rule.from_config ? "config file (read-only)" : "added here or by CLI"}</td>
        <td>${esc(rule.destination)}${rule.registered ? "" : ' <span class="error">(not registered)</span>'}</td>
        <td>${esc(rule.criteria)}</td>
        <td>${rule.from_config ? "" : '<button type="button" class="danger remove">Remove</button>'}</td></tr>`).join("")
      : '<tr><td colspan="5" class="muted">No forwarding rule.</td></tr>';
    for (const row of rules.querySelectorAll("tr[data-rule] button.remove")) {
      const name = row.closest("tr").dataset.rule;
      row.addEventListener("click", async () => {
        if (!confirm(`Remove the forwarding rule ${name}?`)) return;
        const done = await busy(row, ruleError,
          () => api(`admin/forwarding/rules/${encodeURIComponent(name)}`, { method: "DELETE" }));
        if (done) await load();
      });
    }
    const queue = root.querySelector("#queue-table tbody");
    queue.innerHTML = forwarding.queue.length ? forwarding.queue.map((item) => `
      <tr data-destination="${esc(item.destination)}"><td>${esc(item.destination)}</td>
        <td>${number(item.pending)}</td><td>${number(item.sending)}</td><td>${number(item.done)}</td>
        <td class="${item.failed ? "error" : ""}">${number(item.failed)}</td><td>${when(item.next_attempt_at)}</td>
        <td>${item.last_error ? `${esc(item.last_error)} <span class="muted">(${when(item.last_error_at)})</span>` : "–"}</td>
        <td><button type="button" class="secondary retry">Retry</button></td></tr>`).join("")
      : '<tr><td colspan="8" class="muted">Nothing was queued for forwarding.</td></tr>';
    for (const button of queue.querySelectorAll("button.retry")) {
      const destination = button.closest("tr").dataset.destination;
      button.addEventListener("click", async () => {
        const done = await busy(button, queueError, () => api(
          `admin/forwarding/queue/${encodeURIComponent(destination)}/retry`, { method: "POST" }));
        if (!done) return;
        await load();
        const notice = root.querySelector("#queue-notice");
        notice.textContent = `Retry for ${destination}: ${done.failed_reset} failed job(s) start over, `
          + `${done.pending_advanced} waiting job(s) are due now.`;
        notice.hidden = false;
      });
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(ruleError, null);
    const data = new FormData(form);
    const tags = {};
    for (const item of list(data.get("tags"))) {
      const [keyword, ...pattern] = item.split("=");
      if (!pattern.length) { showError(ruleError, `tags: write KEYWORD=PATTERN, not “${item}”`); return; }
      (tags[keyword.trim()] ||= []).push(pattern.join("=").trim());
    }
    const body = { name: data.get("name"), destination: data.get("destination") || "",
      modality: list(data.get("modality")), calling_ae_title: list(data.get("calling_ae_title")),
      sop_class_uid: list(data.get("sop_class_uid")), tags };
    const added = await busy(form.querySelector("button"), ruleError,
      () => api("admin/forwarding/rules", { method: "POST", body }));
    if (added) { form.reset(); await load(); }
  });
  await load();
}
