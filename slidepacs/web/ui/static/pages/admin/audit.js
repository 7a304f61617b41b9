// Audit log (admins only): newest first, filtered by user and action, page by page; the
// filters and the page are in the address (#/admin/audit?user=…&action=…&page=…).
import { api, esc } from "../../api.js";
import { navigateWith, when } from "./common.js";

const SIZE = 50;

export async function render(root, params, ctx) {
  const user = params.get("user") || "";
  const action = params.get("action") || "";
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  const query = new URLSearchParams({ page: String(page), size: String(SIZE) });
  if (user) query.set("user", user);
  if (action) query.set("action", action);
  const log = await api(`admin/audit?${query}`);
  root.innerHTML = `
    <form id="audit-form" class="toolbar">
      <label>User <input name="user" value="${esc(user)}" maxlength="64"></label>
      <label>Action <input name="action" value="${esc(action)}" maxlength="64" list="audit-actions"
        placeholder="e.g. login.failed"></label>
      <datalist id="audit-actions">${["login", "login.failed", "logout", "account.create", "account.role",
        "account.remove", "account.unlock", "password.reset", "password.change", "ae.add", "ae.remove",
        "forward.rule.add", "forward.rule.remove", "forward.retry"].map((a) => `<option value="${a}">`).join("")}</datalist>
      <button type="submit">Filter</button>
      <button type="button" class="secondary" id="audit-clear">Clear</button>
    </form>
    <div class="table-wrap"><table id="audit-table">
      <thead><tr><th>When</th><th>User</th><th>Action</th><th>Target</th><th>Detail</th><th>Address</th></tr></thead>
      <tbody>${log.entries.length ? log.entries.map((entry) => `<tr>
        <td class="nowrap">${when(entry.at)}</td><td>${esc(entry.user)}</td><td><code>${esc(entry.action)}</code></td>
        <td>${esc(entry.target)}</td><td>${esc(entry.detail)}</td><td>${esc(entry.address)}</td></tr>`).join("")
        : '<tr><td colspan="6" class="muted">No entry.</td></tr>'}</tbody>
    </table></div>
    <div class="pager">
      <button type="button" class="secondary" id="audit-prev" ${page > 1 ? "" : "disabled"}>Newer</button>
      <span>Page ${page}</span>
      <button type="button" class="secondary" id="audit-next" ${log.more ? "" : "disabled"}>Older</button>
    </div>`;
  const go = (values) => navigateWith(ctx, "#/admin/audit", values);
  const form = root.querySelector("#audit-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go({ user: form.user.value.trim(), action: form.action.value.trim() });
  });
  root.querySelector("#audit-clear").addEventListener("click", () => go({}));
  root.querySelector("#audit-prev").addEventListener("click", () => go({ user, action, page: page > 2 ? String(page - 1) : "" }));
  root.querySelector("#audit-next").addEventListener("click", () => go({ user, action, page: String(page + 1) }));
}
