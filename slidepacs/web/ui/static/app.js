// The single page: a hash router (#/list, #/viewer, #/admin, #/login, #/password), log-in
// handling (form, id/password in the URL when enabled, OTP code) and the header.
import { api, ApiError, setCsrf } from "./api.js";

const routes = {
  login: () => import("./pages/login.js"),
  password: () => import("./pages/password.js"),
  list: () => import("./pages/list.js"),
  viewer: () => import("./pages/viewer.js"),
  admin: () => import("./pages/admin.js"),
};
const PUBLIC = new Set(["login"]);
const CREDENTIAL_KEYS = ["id", "password", "code"];
const state = { me: null, cleanup: null, config: null };

// "#/list?patientid=1" → { route: "list", params: URLSearchParams }; keys keep their case.
export function parseHash(hash = location.hash) {
  const text = hash.replace(/^#\/?/, "");
  const [path, query = ""] = text.split(/\?(.*)/s);
  const route = (path || "list").split("/")[0];
  return { route, sub: path.split("/").slice(1), params: new URLSearchParams(query) };
}

export function navigate(hash) {
  if (location.hash === hash) render(); else location.hash = hash;
}

// Remove id/password/code from the address bar and the history entry, return what they were.
function takeCredentials() {
  const { route, sub, params } = parseHash();
  const found = {};
  for (const key of [...params.keys()]) {
    const lower = key.toLowerCase();
    if (CREDENTIAL_KEYS.includes(lower)) { found[lower] = params.get(key); params.delete(key); }
  }
  if (Object.keys(found).length) {
    const rest = params.toString();
    const path = [route, ...sub].join("/");
    history.replaceState(null, "", `${location.pathname}#/${path}${rest ? "?" + rest : ""}`);
  }
  return found;
}

function showHeader(me) {
  const top = document.getElementById("top");
  top.hidden = !me;
  if (!me) return;
  document.getElementById("who").textContent = `${me.username} (${me.role.replace("_", " ")})`;
  for (const link of top.querySelectorAll("[data-roles]")) {
    link.hidden = !link.dataset.roles.split(" ").includes(me.role);
  }
  const { route } = parseHash();
  for (const link of top.querySelectorAll("[data-route]")) {
    link.classList.toggle("active", link.dataset.route === route);
  }
}

export function loggedIn(me) {
  state.me = me;
  setCsrf(me ? me.csrf : "");
  showHeader(me);
}

async function logInFromUrl(found) {
  const body = found.code ? { code: found.code, via: "url" }
    : { username: found.id || "", password: found.password || "", via: "url" };
  try {
    loggedIn(await api("login", { method: "POST", body }));
    return "";
  } catch (error) {
    return error instanceof ApiError ? error.message : String(error);
  }
}

async function currentUser() {
  try { return await api("me"); } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

async function render() {
  const view = document.getElementById("view");
  if (state.cleanup) { try { state.cleanup(); } catch { /* page already gone */ } state.cleanup = null; }
  let { route, sub, params } = parseHash();
  if (!routes[route]) route = "list";
  if (!PUBLIC.has(route) && !state.me) {
    state.next = location.hash || "#/list";
    route = "login";
  } else if (state.me && state.me.must_change_password && route !== "password") {
    state.next = location.hash;
    route = "password";
  }
  showHeader(state.me);
  const page = await routes[route]();
  view.replaceChildren();
  view.dataset.page = route;
  const context = { me: state.me, sub, next: state.next, loggedIn, navigate, config: state.config, message: state.message };
  state.message = "";
  try {
    state.cleanup = (await page.render(view, params, context)) || null;
  } catch (error) {
    const box = document.createElement("p");
    box.className = "error";
    box.textContent = error instanceof ApiError ? `${error.status}: ${error.message}` : String(error);
    view.append(box);
    if (error instanceof ApiError && error.status === 401) { loggedIn(null); navigate("#/login"); }
  }
}

async function start() {
  document.getElementById("logout").addEventListener("click", async () => {
    try { await api("logout", { method: "POST" }); } catch { /* already gone */ }
    loggedIn(null);
    state.next = "#/list";
    navigate("#/login");
  });
  state.config = await api("config");
  const found = takeCredentials();
  if (Object.keys(found).length) {
    const failure = await logInFromUrl(found);
    if (failure) state.message = `Log-in from the address failed: ${failure}`;
  }
  if (!state.me) loggedIn(await currentUser());
  window.addEventListener("hashchange", render);
  await render();
}

start();
