// Calls to the slidepacs HTTP API: JSON in and out, the CSRF token on requests that change
// something, and errors as ApiError with the HTTP status and the server's reason.

let csrf = "";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

export function setCsrf(token) { csrf = token || ""; }

async function reason(response) {
  try {
    const body = await response.json();
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch { return response.statusText; }
}

// fetch() with the session cookie and CSRF header; returns the Response, throws ApiError.
export async function request(path, { method = "GET", body, headers = {} } = {}) {
  const options = { method, headers: { ...headers }, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") options.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (!response.ok) throw new ApiError(response.status, await reason(response));
  return response;
}

// JSON of an API call under /viewer/api (or an absolute path).
export async function api(path, options) {
  const url = path.startsWith("/") ? path : `/viewer/api/${path}`;
  const response = await request(url, options);
  return response.status === 204 ? null : response.json();
}

// DICOM JSON from DICOMweb (QIDO-RS / WADO-RS metadata) under /dicom-web.
export async function dicomweb(path) {
  const response = await request(`/dicom-web/${path}`, { headers: { Accept: "application/dicom+json" } });
  return response.status === 204 ? [] : response.json();
}

// The first value of a DICOM JSON attribute (keyword's tag), or "".
export function value(item, tag) {
  const element = item && item[tag];
  if (!element || !element.Value || !element.Value.length) return "";
  const first = element.Value[0];
  if (first && typeof first === "object" && "Alphabetic" in first) return first.Alphabetic;
  return first;
}

// Escape text for HTML.
export function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
