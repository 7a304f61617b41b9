// The radiology viewer's page structure: toolbar, canvas with overlays, navigation, help.
import { esc } from "../../api.js";

export const TOOLS = [
  { id: "wl", label: "Window/level", key: "w" },
  { id: "pan", label: "Pan", key: "p" },
  { id: "zoom", label: "Zoom", key: "z" },
  { id: "measure", label: "Measure", key: "m" },
  { id: "scroll", label: "Scroll", key: "s" },
];
export const HELP = "Keys: ↑/↓ or wheel image · ←/→ frame · Home/End first/last · "
  + "W window/level · P pan · Z zoom · M measure · S scroll (drag up/down) · +/− zoom · F fit · "
  + "1–5 presets · Space play/pause · Del clear measurements · Ctrl+wheel zoom";

export function formatDate(text) {
  return /^\d{8}$/.test(text) ? `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6)}` : text;
}

export function layout() {
  return `
  <div class="rad">
    <aside class="rad-series" aria-label="Series of the study"></aside>
    <section class="rad-main">
      <div class="rad-tools" role="toolbar" aria-label="Tools">
        <span class="rad-group">${TOOLS.map((t) => `<button type="button" class="secondary rad-tool" data-tool="${t.id}" aria-pressed="false" title="${t.label} (${t.key.toUpperCase()})">${t.label}</button>`).join("")}</span>
        <span class="rad-group">
          <button type="button" class="secondary" data-action="zoom-in" title="Zoom in (+)" aria-label="Zoom in">+</button>
          <button type="button" class="secondary" data-action="zoom-out" title="Zoom out (−)" aria-label="Zoom out">−</button>
          <button type="button" class="secondary" data-action="fit" title="Fit the image (F)">Fit</button>
          <button type="button" class="secondary" data-action="reset" title="Fit, default window, no measurements">Reset</button>
          <button type="button" class="secondary" data-action="clear" title="Clear measurements (Del)">Clear lines</button>
        </span>
        <span class="rad-group rad-presets" aria-label="Window presets"></span>
      </div>
      <div class="rad-stage">
        <canvas class="rad-canvas" tabindex="0" aria-label="Image"></canvas>
        <div class="rad-ov tl"></div><div class="rad-ov tr"></div>
        <div class="rad-ov bl"></div><div class="rad-ov br"></div>
        <p class="rad-warning" hidden></p>
        <p class="rad-status" hidden></p>
      </div>
      <div class="rad-nav">
        <label class="rad-slider">Image <input type="range" class="rad-image-slider" min="1" max="1" value="1" aria-label="Image"></label>
        <span class="rad-image-text">image 1 / 1</span>
        <span class="rad-frames" hidden>
          <button type="button" class="rad-play" title="Play/pause (Space)">Play</button>
          <input type="range" class="rad-frame-slider" min="1" max="1" value="1" aria-label="Frame">
          <span class="rad-frame-text">frame 1 / 1</span>
          <label class="rad-inline">fps <input type="number" class="rad-fps" min="1" max="60" value="10"></label>
          <label class="rad-inline"><input type="checkbox" class="rad-loop" checked> loop</label>
        </span>
      </div>
      <ul class="rad-measures" aria-label="Measurements"></ul>
      <p class="rad-help muted">${esc(HELP)}</p>
    </section>
  </div>`;
}
