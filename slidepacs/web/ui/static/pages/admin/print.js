// Print jobs: the films printed to slidepacs' DICOM print server, newest first, each film as
// a PNG preview with links to its PNG and PDF.
import { api, esc } from "../../api.js";
import { when } from "./common.js";

function filmLinks(job) {
  return job.films.map((film, index) => {
    const base = `/viewer/api/print/jobs/${encodeURIComponent(job.job_uid)}/films/${index + 1}`;
    return `<span class="film">
      <a href="${base}.png" target="_blank" rel="noopener"><img class="thumb" loading="lazy" alt="film ${index + 1}" src="${base}.png"></a>
      <span class="muted small">${esc(film.film_size)} ${esc(film.layout)}</span>
      <span><a href="${base}.png" target="_blank" rel="noopener">PNG</a> · <a href="${base}.pdf" target="_blank" rel="noopener">PDF</a></span>
    </span>`;
  }).join("");
}

export async function render(root) {
  const jobs = await api("print/jobs");
  root.innerHTML = jobs.length ? `
    <div class="table-wrap"><table id="print-jobs">
      <thead><tr><th>Printed</th><th>From</th><th>Kind</th><th>Status</th><th>Films</th></tr></thead>
      <tbody>${jobs.map((job) => `<tr data-job="${esc(job.job_uid)}">
        <td class="nowrap">${when(job.created_at)}</td>
        <td>${esc(job.calling_ae)}<div class="muted small">${esc(job.address)}</div></td>
        <td>${job.colour ? "colour" : "greyscale"}</td><td>${esc(job.status)}</td>
        <td class="films">${filmLinks(job)}</td></tr>`).join("")}</tbody>
    </table></div>
    <p class="muted">Delete jobs with <code>slidepacs print delete JOB</code>.</p>`
    : `<p class="muted" id="no-print-jobs">No film has been printed yet. Modalities print to the
       AE title and port of the print server (see the DICOM tab's listeners and the admin guide).</p>`;
}
