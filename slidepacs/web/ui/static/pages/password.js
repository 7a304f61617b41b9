// Change your own password (forced at first log-in and after an admin's reset).
import { api, ApiError } from "../api.js";

export async function render(root, params, ctx) {
  const forced = ctx.me && ctx.me.must_change_password;
  root.innerHTML = `
    <form class="card narrow" id="password-form">
      <h1>Change password</h1>
      ${forced ? '<p class="notice">You must choose a new password before going on.</p>' : ""}
      <label>Current password <input name="old" type="password" autocomplete="current-password" required></label>
      <label>New password (12 characters or more) <input name="new" type="password" minlength="12" autocomplete="new-password" required></label>
      <label>New password again <input name="again" type="password" minlength="12" autocomplete="new-password" required></label>
      <p class="error" id="password-error" role="alert" hidden></p>
      <button type="submit">Change password</button>
    </form>`;
  const form = root.querySelector("form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = root.querySelector("#password-error");
    error.hidden = true;
    if (form.new.value !== form.again.value) {
      error.textContent = "The two new passwords differ.";
      error.hidden = false;
      return;
    }
    try {
      const me = await api("password", { method: "POST", body: { old: form.old.value, new: form.new.value } });
      ctx.loggedIn(me);
      ctx.navigate(ctx.next && !/^#\/(login|password)/.test(ctx.next) ? ctx.next : "#/list");
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? failure.message : String(failure);
      error.hidden = false;
    }
  });
}
