// The whole-slide viewer (#/viewer on a modality SM series): OpenSeadragon over WADO-RS frames
// using every stored pyramid level (no level invented), a scale bar in µm/mm, a panel with the
// label, overview and slide/case/barcode/patient fields, a navigator, keyboard navigation,
// full screen, and a list to switch between the study's slide series.
import { api, esc } from "../api.js";

const OSD_SCRIPT = "/viewer/vendor/openseadragon/openseadragon.min.js";
const OSD_IMAGES = "/viewer/vendor/openseadragon/images/";
const NARROW = "(max-width: 800px)";
const SCALE_BAR_PX = 120; // the scale bar is about this long, rounded to a 1-2-5 length
const PAN_STEP = 0.15; // arrow keys pan this fraction of the view
const ZOOM_STEP = 1.6;
let loading = null;

// OpenSeadragon, added to the page once with a <script> element.
export function loadOpenSeadragon() {
  if (window.OpenSeadragon) return Promise.resolve(window.OpenSeadragon);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = OSD_SCRIPT;
      script.addEventListener("load", () => resolve(window.OpenSeadragon));
      script.addEventListener("error", () => {
        loading = null;
        script.remove();
        reject(new Error("OpenSeadragon could not be loaded (installed by make run)"));
      });
      document.head.append(script);
    });
  }
  return loading;
}

// A tile source whose levels are the DICOM levels: OSD level 0 is the smallest stored level,
// the last the base; each level's scale is its real width over the base width.
export function dicomTileSource(OSD, slide) {
  const levels = [...slide.levels].reverse();
  const base = slide.levels[0];
  const prefix = `/dicom-web/studies/${encodeURIComponent(slide.study)}/series/${encodeURIComponent(slide.series)}/instances/`;
  const source = new OSD.TileSource({
    width: base.width, height: base.height, tileSize: base.tile_width, tileOverlap: 0,
    minLevel: 0, maxLevel: levels.length - 1,
  });
  const scales = levels.map((level) => level.width / base.width);
  const across = levels.map((level) => Math.ceil(level.width / level.tile_width));
  const down = levels.map((level) => Math.ceil(level.height / level.tile_height));
  const frameOf = (index, x, y) => {
    const level = levels[index];
    if (!level || x < 0 || y < 0 || x >= across[index] || y >= down[index]) return null;
    if (level.tiles) return level.tiles[`${x},${y}`] ?? null; // TILED_SPARSE: may be missing
    const number = y * across[index] + x + 1;
    return number <= level.frames ? number : null;
  };
  source.getLevelScale = (index) => scales[index];
  source.getTileWidth = (index) => levels[index].tile_width;
  source.getTileHeight = (index) => levels[index].tile_height;
  source.getNumTiles = (index) => new OSD.Point(across[index], down[index]);
  source.tileExists = (index, x, y) => frameOf(index, x, y) !== null; // missing: not fetched
  source.getTileUrl = (index, x, y) => `${prefix}${encodeURIComponent(levels[index].instance)}/frames/${frameOf(index, x, y) ?? 1}`;
  source.getTileAjaxHeaders = (index) => ({ Accept: levels[index].accept || "image/jpeg" });
  return source;
}

// The longest 1, 2 or 5 × 10^n micrometres not over ``limit``.
export function niceLength(limit) {
  const power = 10 ** Math.floor(Math.log10(limit));
  return [5, 2, 1].map((m) => m * power).find((length) => length <= limit) || power;
}

export function formatLength(micrometres) {
  const round = (value) => String(Number(value.toPrecision(3)));
  return micrometres >= 1000 ? `${round(micrometres / 1000)} mm` : `${round(micrometres)} µm`;
}

function field(name, text) {
  return text ? `<dt>${esc(name)}</dt><dd>${esc(text)}</dd>` : "";
}

function formatDate(text) {
  return /^\d{8}$/.test(text || "") ? `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6)}` : text;
}

function imageUrl(slide, uid) {
  return `/dicom-web/studies/${encodeURIComponent(slide.study)}/series/${encodeURIComponent(slide.series)}/instances/${encodeURIComponent(uid)}/rendered`;
}

function panelHtml(slide) {
  const patient = slide.patient, study = slide.study_fields;
  const spacing = slide.pixel_spacing_mm;
  const slides = slide.study_slides || [];
  const switcher = slides.length > 1 ? `<section class="slide-series"><h2>Slides in this study</h2><ul>${
    slides.map((item) => {
      const hash = `#/viewer?studyinstanceuid=${encodeURIComponent(slide.study)}&seriesinstanceuid=${encodeURIComponent(item.series)}`;
      const current = item.series === slide.series;
      const name = item.slide_id || item.barcode || `Series ${item.number ?? ""}`;
      const more = item.description && item.description !== name ? ` <span class="muted">${esc(item.description)}</span>` : "";
      return `<li><a href="${esc(hash)}"${current ? ' class="current" aria-current="page"' : ""}>${esc(name)}${more}</a></li>`;
    }).join("")}</ul></section>` : "";
  const picture = (kind, title) => slide[kind] ? `<figure class="slide-${kind}"><img alt="${title} of the slide" src="${esc(imageUrl(slide, slide[kind]))}"><figcaption>${title}</figcaption></figure>` : "";
  const levels = slide.levels.map((level) => `${level.width}×${level.height}${level.tiles ? " (sparse)" : ""}`).join(", ");
  return `${switcher}
    <div class="slide-pictures">${picture("label", "Label")}${picture("overview", "Overview")}</div>
    <dl class="slide-fields">
      ${field("Slide ID", slide.slide_id)}${field("Case ID", slide.case_id)}${field("Barcode", slide.barcode)}
      ${field("Container", slide.container_id)}
      ${field("Specimen", [slide.specimen.identifier, slide.specimen.short_description].filter(Boolean).join(" — "))}
      ${field("Patient", patient.PatientName)}${field("Patient ID", patient.PatientID)}
      ${field("Birth date", formatDate(patient.PatientBirthDate))}${field("Sex", patient.PatientSex)}
      ${field("Study date", formatDate(study.StudyDate))}${field("Accession", study.AccessionNumber)}
      ${field("Study", study.StudyDescription)}${field("Series", slide.series_fields.SeriesDescription)}
      ${field("Objective", slide.objective_power ? `${slide.objective_power}×` : "")}
      ${field("Pixel size", spacing ? `${Number((spacing[1] * 1000).toPrecision(3))} µm` : "")}
      ${field("Levels", levels)}
    </dl>
    <p class="muted slide-keys">Keys: arrows pan, + and − zoom, 0 goes home, f toggles full screen. Touch: drag to pan, pinch to zoom.</p>`;
}

function layoutHtml(slide) {
  const title = slide.slide_id || slide.barcode || slide.series_fields.SeriesDescription || "Slide";
  const who = [slide.patient.PatientName, slide.patient.PatientID].filter(Boolean).join(" · ");
  return `<div class="slide-layout">
    <section class="slide-stage">
      <div class="slide-toolbar">
        <strong class="slide-title">${esc(title)}</strong><span class="muted slide-who">${esc(who)}</span>
        <span class="spacer"></span>
        <span class="muted slide-help" title="Touch: drag to pan, pinch to zoom">Keys: ← ↑ → ↓ pan · + − zoom · 0 home · f full screen</span>
        <button type="button" class="secondary slide-fullscreen" title="Full screen (f)">Full screen</button>
        <button type="button" class="secondary slide-panel-toggle" aria-expanded="true">Details</button>
      </div>
      <div class="slide-osd" tabindex="-1"></div>
      <div class="slide-scalebar" aria-label="scale bar"><div class="bar"></div><span></span></div>
    </section>
    <aside class="slide-panel">${panelHtml(slide)}</aside>
  </div>`;
}

export async function show(root, target) {
  let slide;
  try {
    [slide] = await Promise.all([
      api(`slides/${encodeURIComponent(target.study)}/${encodeURIComponent(target.series)}`),
      loadOpenSeadragon(),
    ]);
  } catch (error) {
    root.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    return;
  }
  const OSD = window.OpenSeadragon;
  root.innerHTML = layoutHtml(slide);
  const layout = root.querySelector(".slide-layout");
  const stage = root.querySelector(".slide-stage");
  const element = root.querySelector(".slide-osd");
  const bar = root.querySelector(".slide-scalebar .bar");
  const barText = root.querySelector(".slide-scalebar span");
  const fullButton = root.querySelector(".slide-fullscreen");
  const panelButton = root.querySelector(".slide-panel-toggle");

  const viewer = OSD({
    element, prefixUrl: OSD_IMAGES, tileSources: dicomTileSource(OSD, slide), drawer: "canvas",
    loadTilesWithAjax: true, ajaxHeaders: {}, showNavigator: true, navigatorPosition: "BOTTOM_RIGHT",
    showRotationControl: false, showFullPageControl: false, showFlipControl: false,
    visibilityRatio: 0.5, minZoomImageRatio: 0.5, maxZoomPixelRatio: 4, timeout: 60000,
    gestureSettingsTouch: { pinchRotate: false }, imageLoaderLimit: 6,
  });

  element.osd = viewer; // for scripts and tests that drive the view
  const spacing = slide.pixel_spacing_mm;
  function updateScaleBar() {
    if (!spacing || !viewer.world.getItemCount()) { bar.parentElement.hidden = true; return; }
    const shown = viewer.viewport.viewportToImageZoom(viewer.viewport.getZoom(true));
    const perPixel = spacing[1] * 1000 / shown; // µm per screen pixel
    const length = niceLength(SCALE_BAR_PX * perPixel);
    bar.style.width = `${Math.round(length / perPixel)}px`;
    barText.textContent = formatLength(length);
  }
  viewer.addHandler("open", () => {
    updateScaleBar();
    const item = viewer.world.getItemAt(0);
    item.addHandler("fully-loaded-change", (event) => { element.dataset.loaded = event.fullyLoaded ? "yes" : "no"; });
  });
  viewer.addHandler("animation", updateScaleBar);
  viewer.addHandler("resize", updateScaleBar);
  viewer.addHandler("open-failed", (event) => {
    root.querySelector(".slide-toolbar").insertAdjacentHTML("afterend", `<p class="error">${esc(event.message)}</p>`);
  });

  function syncFullScreen() {
    const full = document.fullscreenElement === stage || stage.classList.contains("slide-fullpage");
    stage.classList.toggle("is-full", full);
    fullButton.textContent = full ? "Exit full screen" : "Full screen";
  }
  async function toggleFullScreen() {
    if (document.fullscreenElement) await document.exitFullscreen();
    else if (stage.classList.contains("slide-fullpage")) stage.classList.remove("slide-fullpage");
    else {
      try { await stage.requestFullscreen(); } catch { stage.classList.add("slide-fullpage"); }
    }
    syncFullScreen();
  }
  function setPanel(open) {
    layout.classList.toggle("panel-hidden", !open);
    panelButton.setAttribute("aria-expanded", String(open));
  }
  setPanel(!window.matchMedia(NARROW).matches);
  function fitHeight() { // the layout fills the window below the page header
    const header = document.getElementById("top");
    layout.style.height = `calc(100dvh - ${header && !header.hidden ? header.offsetHeight : 0}px)`;
  }
  fitHeight();

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || !viewer.world.getItemCount()) return;
    const where = event.target;
    if (where instanceof HTMLElement && (where.isContentEditable || where.closest("input, textarea, select"))) return;
    const viewport = viewer.viewport;
    const bounds = viewport.getBounds();
    const pans = {
      ArrowLeft: [-bounds.width, 0], ArrowRight: [bounds.width, 0],
      ArrowUp: [0, -bounds.height], ArrowDown: [0, bounds.height],
    };
    if (pans[event.key]) {
      const [dx, dy] = pans[event.key];
      viewport.panBy(new OSD.Point(dx * PAN_STEP, dy * PAN_STEP));
    } else if (event.key === "+" || event.key === "=") viewport.zoomBy(ZOOM_STEP);
    else if (event.key === "-" || event.key === "_") viewport.zoomBy(1 / ZOOM_STEP);
    else if (event.key === "0") viewport.goHome();
    else if (event.key === "f" || event.key === "F") toggleFullScreen();
    else if (event.key === "Escape" && stage.classList.contains("slide-fullpage")) toggleFullScreen();
    else return;
    viewport.applyConstraints();
    event.preventDefault();
    event.stopPropagation(); // OpenSeadragon's own keys (f flips) do not run twice
  }

  fullButton.addEventListener("click", toggleFullScreen);
  panelButton.addEventListener("click", () => setPanel(layout.classList.contains("panel-hidden")));
  document.addEventListener("keydown", onKey, true);
  document.addEventListener("fullscreenchange", syncFullScreen);
  window.addEventListener("resize", fitHeight);
  element.focus({ preventScroll: true });

  return () => {
    document.removeEventListener("keydown", onKey, true);
    document.removeEventListener("fullscreenchange", syncFullScreen);
    window.removeEventListener("resize", fitHeight);
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    viewer.destroy();
  };
}
