// Storage: the configured locations (data path, backups) with usage and instance copies.
import { api, esc } from "../../api.js";
import { bytes, number } from "./common.js";

export async function render(root) {
  const storage = await api("admin/storage");
  root.innerHTML = `
    <div class="table-wrap"><table id="storage-locations">
      <thead><tr><th>Location</th><th>Path</th><th>Instances</th><th>Used by slidepacs</th>
        <th>Free on disk</th><th>Disk size</th></tr></thead>
      <tbody>${storage.locations.map((item) => `<tr data-location="${esc(item.role)}">
        <td>${esc(item.role)}</td><td class="path">${esc(item.path)}</td><td>${number(item.instances)}</td>
        <td>${bytes(item.used_bytes)}</td><td>${bytes(item.disk_free_bytes)}</td>
        <td>${bytes(item.disk_total_bytes)}</td></tr>`).join("")}</tbody>
    </table></div>
    <dl class="facts">
      <dt>Duplicates</dt><dd>${esc(storage.duplicate_policy)}</dd>
      <dt>Log folder</dt><dd class="path">${esc(storage.log_path)}</dd>
    </dl>
    <p class="notice" id="storage-verify">Verifying the stored files is not available from the web:
      ${esc(storage.verify.reason)}, with <code>${esc(storage.verify.command)}</code>.</p>`;
}
