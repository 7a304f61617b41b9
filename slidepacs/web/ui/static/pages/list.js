// #/list?… — the study list: a search form that writes the SPEC §7 URL language into the
// address (so a search can be shared, bookmarked or opened by other software), a sortable,
// paginated table with thumbnails, and #/list/study?studyinstanceuid=… for one study's series
// and instances with links into the viewer.
import { api, esc } from "../api.js";

const FIELDS = [
  { key: "patientid", label: "Patient ID" },
  { key: "patientname", label: "Patient name", contains: true },
  { key: "accessionnumber", label: "Accession" },
  { key: "modality", label: "Modality", placeholder: "CT, MR, SM…" },
  { key: "studydescription", label: "Description", contains: true },
  { key: "slideid", label: "Slide ID" },
  { key: "caseid", label: "Case ID" },
  { key: "barcode", label: "Barcode" },
];
const DATE_WORDS = ["today", "yesterday", "pastweek", "pastmonth"];
const OPERATOR = /^(==|!=|>>|>=|<<|<=|\*\*|=~)/;
const COLUMNS = [
  { key: null, label: "" },
  { key: "patientname", label: "Patient" },
  { key: "patientid", label: "Patient ID" },
  { key: "patientbirthdate", label: "Born" },
  { key: "studydate", label: "Study date" },
  { key: "studydescription", label: "Description" },
  { key: "accessionnumber", label: "Accession" },
  { key: "modality", label: "Modality" },
  { key: null, label: "Series / images" },
  { key: null, label: "Slides" },
];

// DICOM values for people: dates 2024-01-15, times 10:15, names "DOE, JANE".
export const show = {
  date: (v) => (v && v.length === 8 ? `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6)}` : v || ""),
  time: (v) => (v && v.length >= 4 ? `${v.slice(0, 2)}:${v.slice(2, 4)}` : v || ""),
  name: (v) => (v || "").split("=")[0].replace(/\^+$/, "").replace("^", ", ").replace(/\^/g, " "),
};

// A query string in the list's own syntax, readable in the address bar: "=", "/", ":" and ","
// stay as they are (the server splits each pair at its first "=").
export function queryText(params) {
  return [...params].map(([key, value]) => `${key}=${encodeURIComponent(value)
    .replace(/%3D/g, "=").replace(/%2F/g, "/").replace(/%3A/g, ":").replace(/%2C/g, ",")}`).join("&");
}

function rawQuery() {
  const hash = location.hash;
  const at = hash.indexOf("?");
  return at < 0 ? "" : hash.slice(at + 1);
}

function withParams(params, changes) {
  const next = new URLSearchParams(params);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === "") next.delete(key); else next.set(key, value);
  }
  return next;
}

// The form's fields, pre-filled from the address (operators shown as typed).
function formHtml(params) {
  const get = (key) => params.getAll(key).join(", ");
  const dateValue = params.get("studydate") || "";
  const range = dateValue.startsWith("=~") ? dateValue.slice(2).split("~") : ["", ""];
  const word = DATE_WORDS.includes(dateValue) ? dateValue : "";
  const iso = (text) => (text || "").replaceAll("/", "-").replace(/^(\d{4})(\d{2})(\d{2})$/, "$1-$2-$3");
  const inputs = FIELDS.map((f) => {
    let text = get(f.key);
    if (f.contains && text.startsWith("**")) text = text.slice(2);
    return `<label>${f.label}<input name="${f.key}" value="${esc(text)}" placeholder="${esc(f.placeholder || "")}"></label>`;
  }).join("");
  return `
    <form id="search-form" class="grid-form card">
      ${inputs}
      <label>Study date<select name="when">
        <option value="">any date</option>
        ${DATE_WORDS.map((w) => `<option value="${w}"${w === word ? " selected" : ""}>${{ today: "today", yesterday: "yesterday", pastweek: "past week", pastmonth: "past month" }[w]}</option>`).join("")}
        <option value="range"${range[0] || range[1] ? " selected" : ""}>from / to</option>
      </select></label>
      <label>From<input name="from" type="date" value="${esc(iso(range[0]))}"></label>
      <label>To<input name="to" type="date" value="${esc(iso(range[1]))}"></label>
      <div class="form-buttons"><button type="submit">Search</button>
        <button type="button" class="secondary" id="clear-search">Clear</button></div>
    </form>`;
}

// The address a submitted form stands for: plain text is an equal match (or contains, for
// names and descriptions), an operator typed first is kept, commas in patient ID and
// modality mean OR.
function queryFromForm(form, params) {
  const next = new URLSearchParams();
  for (const key of ["sort", "order", "limit"]) if (params.get(key)) next.set(key, params.get(key));
  for (const f of FIELDS) {
    const text = form[f.key].value.trim();
    if (!text) continue;
    const parts = ["patientid", "modality"].includes(f.key) ? text.split(",").map((t) => t.trim()).filter(Boolean) : [text];
    for (const part of parts) {
      next.append(f.key, f.contains && !OPERATOR.test(part) && !/[*?]/.test(part) ? `**${part}` : part);
    }
  }
  const when = form.when.value;
  if (DATE_WORDS.includes(when)) next.set("studydate", when);
  else if (form.from.value || form.to.value) {
    next.set("studydate", `=~${form.from.value.replaceAll("-", "/")}~${form.to.value.replaceAll("-", "/")}`);
  }
  return next;
}

function studyRow(study) {
  const thumb = study.first_series_uid
    ? `<img class="thumb" loading="lazy" alt="" src="/dicom-web/studies/${encodeURIComponent(study.study_instance_uid)}/series/${encodeURIComponent(study.first_series_uid)}/thumbnail?viewport=128,128">`
    : '<span class="thumb"></span>';
  const slides = [...study.slide_ids, ...study.case_ids.filter((c) => !study.slide_ids.length)].join(", ");
  return `<tr class="clickable" data-study="${esc(study.study_instance_uid)}" tabindex="0">
    <td>${thumb}</td>
    <td class="strong">${esc(show.name(study.patient_name)) || '<span class="muted">(no name)</span>'}</td>
    <td>${esc(study.patient_id)}</td>
    <td>${esc(show.date(study.patient_birth_date))} ${esc(study.patient_sex)}</td>
    <td>${esc(show.date(study.study_date))} <span class="muted">${esc(show.time(study.study_time))}</span></td>
    <td>${esc(study.study_description)}</td>
    <td>${esc(study.accession_number)}</td>
    <td>${esc(study.modalities.join(", "))}</td>
    <td>${study.series} / ${study.instances}</td>
    <td>${esc(slides)}${study.barcodes.length ? `<div class="muted small">${esc(study.barcodes.join(", "))}</div>` : ""}</td>
  </tr>`;
}

function headerRow(params) {
  const sort = (params.get("sort") || "studydate").toLowerCase();
  const order = params.get("order") || (sort === "studydate" ? "desc" : "asc");
  return COLUMNS.map((c) => {
    if (!c.key) return `<th>${c.label}</th>`;
    const active = c.key === sort;
    const arrow = active ? (order === "desc" ? " ▼" : " ▲") : "";
    return `<th class="sortable${active ? " sorted" : ""}" data-sort="${c.key}" aria-sort="${active ? (order === "desc" ? "descending" : "ascending") : "none"}">${c.label}${arrow}</th>`;
  }).join("");
}

async function renderList(root, params, ctx) {
  root.innerHTML = `<h1>Studies</h1>${formHtml(params)}<div id="results"><p class="muted">Searching…</p></div>`;
  const form = root.querySelector("#search-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = queryText(queryFromForm(form, params));
    ctx.navigate(`#/list${query ? "?" + query : ""}`);
  });
  root.querySelector("#clear-search").addEventListener("click", () => ctx.navigate("#/list"));
  const results = root.querySelector("#results");
  let page;
  try {
    page = await api(`studies${rawQuery() ? "?" + rawQuery() : ""}`);
  } catch (error) {
    results.innerHTML = `<p class="error" role="alert">${esc(error.message)}</p>`;
    return;
  }
  const first = page.total ? page.offset + 1 : 0;
  const last = page.offset + page.studies.length;
  results.innerHTML = `
    <div class="toolbar"><span id="result-count">${page.total ? `${first}–${last} of ${page.total} ${page.total === 1 ? "study" : "studies"}` : "No study matches."}</span></div>
    <div class="table-wrap"><table id="study-table">
      <thead><tr>${headerRow(params)}</tr></thead>
      <tbody>${page.studies.map(studyRow).join("")}</tbody>
    </table></div>
    <div class="pager">
      <button type="button" class="secondary" id="previous-page"${page.offset > 0 ? "" : " disabled"}>Previous</button>
      <button type="button" class="secondary" id="next-page"${last < page.total ? "" : " disabled"}>Next</button>
    </div>`;
  for (const th of results.querySelectorAll("th.sortable")) {
    th.addEventListener("click", () => {
      const sort = (params.get("sort") || "studydate").toLowerCase();
      const order = params.get("order") || (sort === "studydate" ? "desc" : "asc");
      const next = th.dataset.sort === sort && order === "asc" ? "desc" : "asc";
      ctx.navigate(`#/list?${queryText(withParams(params, { sort: th.dataset.sort, order: next, offset: null }))}`);
    });
  }
  const pageTo = (offset) => ctx.navigate(`#/list?${queryText(withParams(params, { offset: offset > 0 ? String(offset) : null }))}`);
  results.querySelector("#previous-page").addEventListener("click", () => pageTo(Math.max(0, page.offset - page.limit)));
  results.querySelector("#next-page").addEventListener("click", () => pageTo(page.offset + page.limit));
  for (const row of results.querySelectorAll("tr[data-study]")) {
    const open = () => ctx.navigate(`#/list/study?studyinstanceuid=${encodeURIComponent(row.dataset.study)}`);
    row.addEventListener("click", open);
    row.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
  }
}

function viewerLink(study, series, instance) {
  const query = new URLSearchParams({ studyinstanceuid: study, seriesinstanceuid: series });
  if (instance) query.set("sopinstanceuid", instance);
  return `#/viewer?${query}`;
}

async function renderStudy(root, params) {
  const uid = params.get("studyinstanceuid") || "";
  const detail = await api(`studies/${encodeURIComponent(uid)}`);
  const study = detail.study;
  const seriesHtml = detail.series.map((series) => `
    <section class="card series" data-series="${esc(series.series_instance_uid)}">
      <div class="series-head">
        <img class="thumb" loading="lazy" alt="" src="/dicom-web/studies/${encodeURIComponent(uid)}/series/${encodeURIComponent(series.series_instance_uid)}/thumbnail?viewport=128,128">
        <div class="grow">
          <h2>${esc(series.modality)} ${series.series_number ?? ""} ${esc(series.description)}</h2>
          <p class="muted">${series.instances.length} instance(s)${series.body_part ? ` · ${esc(series.body_part)}` : ""}${series.series_date ? ` · ${esc(show.date(series.series_date))}` : ""}</p>
        </div>
        <a class="button" href="${viewerLink(uid, series.series_instance_uid)}">Open</a>
      </div>
      <details><summary>Instances</summary>
        <table class="instances"><thead><tr><th>#</th><th>SOP instance UID</th><th>Frames</th><th>Size</th><th>Type</th><th></th></tr></thead><tbody>
        ${series.instances.map((i) => `<tr><td>${i.instance_number ?? ""}</td><td class="uid">${esc(i.sop_instance_uid)}</td><td>${i.frames ?? 1}</td><td>${i.columns && i.rows ? `${i.columns}×${i.rows}` : ""}</td><td>${esc((i.image_type || "").split("\\").slice(2).join(" "))}</td><td><a href="${viewerLink(uid, series.series_instance_uid, i.sop_instance_uid)}">Open</a></td></tr>`).join("")}
        </tbody></table>
      </details>
    </section>`).join("");
  root.innerHTML = `
    <p><a href="#/list" id="back-to-list">← Studies</a></p>
    <div class="card study-head">
      <h1>${esc(show.name(study.patient_name)) || "(no name)"} <span class="muted">${esc(study.patient_id)}</span></h1>
      <p>${esc(show.date(study.study_date))} ${esc(show.time(study.study_time))} · ${esc(study.study_description)} ${study.accession_number ? `· accession ${esc(study.accession_number)}` : ""}
      ${study.slide_ids.length ? `· slide ${esc(study.slide_ids.join(", "))}` : ""} ${study.case_ids.length ? `· case ${esc(study.case_ids.join(", "))}` : ""}</p>
    </div>
    <div id="series-list">${seriesHtml}</div>`;
  root.querySelector("#back-to-list").addEventListener("click", (event) => {
    event.preventDefault();
    if (history.length > 1) history.back(); else location.hash = "#/list";
  });
}

export async function render(root, params, ctx) {
  if (ctx.sub[0] === "study") return renderStudy(root, params, ctx);
  return renderList(root, params, ctx);
}
