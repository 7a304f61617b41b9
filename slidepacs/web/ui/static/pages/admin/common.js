// Helpers shared by the admin tabs: sizes, times, inline errors and confirmation.
import { ApiError, esc } from "../../api.js";

export function bytes(count) {
  if (count === null || count === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let value = Number(count);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit && value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? esc(iso) : date.toLocaleString();
}

export function number(value) { return Number(value || 0).toLocaleString(); }

export function message(error) {
  return error instanceof ApiError ? `${error.message} (HTTP ${error.status})` : String(error);
}

// Show an error (or clear it with null) in an element with class "error".
export function showError(box, error) {
  box.textContent = error ? message(error) : "";
  box.hidden = !error;
}

// Run an action with the button disabled; errors go to the box. Returns the result or null.
export async function busy(button, box, action) {
  if (button) button.disabled = true;
  if (box) showError(box, null);
  try {
    return await action();
  } catch (error) {
    if (box) showError(box, error); else throw error;
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}

export function yesNo(value) { return value ? "yes" : "no"; }

// Values of a comma- or line-separated text field, empty ones dropped.
export function list(text) {
  return String(text || "").split(/[,\n]/).map((item) => item.trim()).filter(Boolean);
}

// Go to `route` with the non-empty `values` as its query (filters and page in the address).
export function navigateWith(ctx, route, values) {
  const next = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value) next.set(key, value);
  const text = next.toString();
  ctx.navigate(`${route}${text ? "?" + text : ""}`);
}
