// Accounts (admins only): list with role, lockout, last log-in and live sessions; add (a
// one-time password is shown once), change role, reset password, unlock, remove.
import { api, esc } from "../../api.js";
import { busy, showError, when, yesNo } from "./common.js";

export async function render(root, params, ctx) {
  root.innerHTML = `
    <form id="account-form" class="toolbar" autocomplete="off">
      <label>User name <input name="username" required maxlength="64"></label>
      <label>Role <select name="role"></select></label>
      <label>Password <input name="password" type="password" autocomplete="new-password"
        placeholder="optional" title="Leave empty to get a random one-time password"></label>
      <button type="submit">Add account</button>
    </form>
    <p class="error" id="account-error" role="alert" hidden></p>
    <p class="notice" id="account-secret" hidden></p>
    <div class="table-wrap"><table id="account-table">
      <thead><tr><th>User</th><th>Role</th><th>Must change password</th><th>Locked until</th>
        <th>Last log-in</th><th>Sessions</th><th>Actions</th></tr></thead>
      <tbody></tbody>
    </table></div>`;
  const error = root.querySelector("#account-error");
  const secret = root.querySelector("#account-secret");
  const form = root.querySelector("#account-form");

  function reveal(username, password, what) {
    secret.innerHTML = `${esc(what)} for <b>${esc(username)}</b>: <code class="secret">${esc(password)}</code>
      — shown once; hand it over safely. It must be changed at the first log-in.`;
    secret.hidden = false;
  }

  async function load() {
    const data = await api("admin/accounts");
    const roles = data.roles;
    if (!form.role.options.length) {
      form.role.innerHTML = roles.map((role) => `<option value="${role}" ${role === "user" ? "selected" : ""}>${role.replace("_", " ")}</option>`).join("");
    }
    const body = root.querySelector("#account-table tbody");
    body.innerHTML = data.accounts.map((account) => {
      const locked = account.locked_until && new Date(account.locked_until) > new Date();
      const self = ctx.me && account.username.toLowerCase() === ctx.me.username.toLowerCase();
      return `<tr data-user="${esc(account.username)}">
        <td>${esc(account.username)}${self ? ' <span class="muted">(you)</span>' : ""}</td>
        <td><select class="role" aria-label="role of ${esc(account.username)}">${roles.map((role) =>
          `<option value="${role}" ${role === account.role ? "selected" : ""}>${role.replace("_", " ")}</option>`).join("")}</select></td>
        <td>${yesNo(account.must_change_password)}</td>
        <td>${locked ? when(account.locked_until) : "–"}</td>
        <td>${when(account.last_login_at)}</td><td>${account.sessions}</td>
        <td class="actions"><button type="button" class="secondary reset">Reset password</button>
          ${locked ? '<button type="button" class="secondary unlock">Unlock</button>' : ""}
          <button type="button" class="danger remove">Remove</button></td></tr>`;
    }).join("");
    for (const row of body.querySelectorAll("tr[data-user]")) wire(row, row.dataset.user);
  }

  function wire(row, username) {
    const path = `admin/accounts/${encodeURIComponent(username)}`;
    const select = row.querySelector("select.role");
    const before = select.value;
    select.addEventListener("change", async () => {
      if (!confirm(`Make ${username} a ${select.value.replace("_", " ")}? Their sessions end.`)) {
        select.value = before;
        return;
      }
      const done = await busy(select, error,
        () => api(`${path}/role`, { method: "PUT", body: { role: select.value } }));
      if (!done) select.value = before; else await load();
    });
    row.querySelector(".reset").addEventListener("click", async (event) => {
      if (!confirm(`Reset the password of ${username}? Their sessions end.`)) return;
      const done = await busy(event.target, error, () => api(`${path}/password`, { method: "POST" }));
      if (done) { await load(); reveal(username, done.password, "New one-time password"); }
    });
    const unlock = row.querySelector(".unlock");
    if (unlock) unlock.addEventListener("click", async () => {
      if (await busy(unlock, error, () => api(`${path}/unlock`, { method: "POST" }))) await load();
    });
    row.querySelector(".remove").addEventListener("click", async (event) => {
      if (!confirm(`Remove the account ${username}?`)) return;
      if (await busy(event.target, error, () => api(path, { method: "DELETE" }))) await load();
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    secret.hidden = true;
    const data = new FormData(form);
    const body = { username: data.get("username"), role: data.get("role") };
    if (data.get("password")) body.password = data.get("password");
    const added = await busy(form.querySelector("button"), error,
      () => api("admin/accounts", { method: "POST", body }));
    if (!added) return;
    form.username.value = "";
    form.password.value = "";
    await load();
    if (added.password) reveal(added.username, added.password, "One-time password");
  });
  await load();
}
