// The log-in form. After log-in: the page asked for, or the forced password change.
import { api, ApiError, esc } from "../api.js";

export async function render(root, params, ctx) {
  root.innerHTML = `
    <form class="card narrow" id="login-form" autocomplete="on">
      <h1>slidepacs</h1>
      <p class="muted">Log in to search and view images.</p>
      ${ctx.message ? `<p class="error" role="alert">${esc(ctx.message)}</p>` : ""}
      <label>User name <input name="username" autocomplete="username" required autofocus></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
      <p class="error" id="login-error" role="alert" hidden></p>
      <button type="submit">Log in</button>
    </form>`;
  const form = root.querySelector("form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = root.querySelector("#login-error");
    error.hidden = true;
    const data = new FormData(form);
    try {
      const me = await api("login", { method: "POST", body: { username: data.get("username"), password: data.get("password") } });
      ctx.loggedIn(me);
      ctx.navigate(me.must_change_password ? "#/password" : (ctx.next && !ctx.next.startsWith("#/login") ? ctx.next : "#/list"));
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? failure.message : String(failure);
      error.hidden = false;
      form.password.value = "";
      form.password.focus();
    }
  });
}
