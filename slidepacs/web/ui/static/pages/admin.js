// The admin pages (#/admin/<tab>): tabs for dashboard, DICOM, accounts, storage, forwarding
// print jobs, scanners and the audit log; each tab is a module in pages/admin/, shown only to roles that may use it.
import { esc } from "../api.js";

const LAB = ["admin", "lab_admin"];
export const TABS = [
  { id: "dashboard", label: "Dashboard", roles: LAB },
  { id: "dicom", label: "DICOM", roles: LAB },
  { id: "accounts", label: "Accounts", roles: ["admin"] },
  { id: "storage", label: "Storage", roles: LAB },
  { id: "forwarding", label: "Forwarding", roles: LAB },
  { id: "print", label: "Print jobs", roles: LAB },
  { id: "scanners", label: "Scanners", roles: LAB },
  { id: "audit", label: "Audit log", roles: ["admin"] },
];

export async function render(root, params, ctx) {
  const role = ctx.me ? ctx.me.role : "";
  const allowed = TABS.filter((tab) => tab.roles.includes(role));
  const wanted = ctx.sub[0] || "dashboard";
  const tab = allowed.find((item) => item.id === wanted);
  root.innerHTML = `
    <h1>Administration</h1>
    <nav class="tabs" id="admin-tabs">
      ${allowed.map((item) => `<a href="#/admin/${item.id}" data-tab="${item.id}"
        class="${tab && item.id === tab.id ? "active" : ""}">${esc(item.label)}</a>`).join("")}
    </nav>
    <section id="admin-tab" data-tab="${esc(tab ? tab.id : "")}"></section>`;
  const section = root.querySelector("#admin-tab");
  if (!allowed.length) {
    section.innerHTML = '<p class="error">Your role may not use the admin pages.</p>';
    return;
  }
  if (!tab) {
    const known = TABS.some((item) => item.id === wanted);
    section.innerHTML = `<p class="error">${known ? "Your role may not use this page."
      : `There is no admin page “${esc(wanted)}”.`}</p>`;
    return;
  }
  const module = await import(`./admin/${tab.id}.js`);
  return module.render(section, params, ctx);
}
