// The radiology viewer (#/viewer for any modality but SM): a series of server-rendered
// frames on a canvas with series scroll, window/level (presets and mouse drag), zoom/pan,
// length measurement in mm, multi-frame playback and a series list of the study.
import { ApiError, esc } from "../api.js";
import {
  presetsFor, renderedUrl, round, seriesImages, spanWindow, studySeries, thumbnailUrl,
} from "./radiology/data.js";
import { ImageCache } from "./radiology/cache.js";
import { formatDate, layout, TOOLS } from "./radiology/layout.js";
import { ImageView, lengthText, lineLength } from "./radiology/view.js";

const PREFETCH_AHEAD = 3;
const PREFETCH_BEHIND = 2;
const SCROLL_PIXELS = 12; // a drag this far in the scroll tool moves one image (or frame)

export async function show(root, target) {
  root.innerHTML = layout();
  const $ = (selector) => root.querySelector(selector);
  const canvas = $(".rad-canvas");
  const view = new ImageView(canvas);
  const state = {
    study: target.study, series: target.series, images: [], index: 0, frame: 1,
    window: null, // null: the file's default; else {center, width}
    preset: "Default", tool: "wl", playing: false, timer: null, alive: true,
    shown: "", inFlight: false, pending: false, spans: new Map(), measures: new Map(),
  };
  const cache = new ImageCache();

  function image() { return state.images[state.index]; }
  function imageKey() { return `${image().sop}:${state.frame}`; }

  function load(url) { return cache.load(url); }

  function urlFor(index, frame, window = state.window) {
    return renderedUrl(state.study, state.series, state.images[index].sop, frame, window);
  }

  function prefetch() {
    if (state.dragging) return;
    const count = state.images.length;
    for (let step = 1; step <= PREFETCH_AHEAD; step++) {
      if (state.index + step < count) load(urlFor(state.index + step, 1)).catch(() => {});
    }
    for (let step = 1; step <= PREFETCH_BEHIND; step++) {
      if (state.index - step >= 0) load(urlFor(state.index - step, 1)).catch(() => {});
    }
    const frames = image().frames;
    if (frames > 1) {
      for (let step = 1; step <= 4; step++) load(urlFor(state.index, ((state.frame - 1 + step) % frames) + 1)).catch(() => {});
    }
  }

  // Show what the state asks for: at most one rendered request in flight; changes made
  // meanwhile are coalesced into the next request.
  async function refresh() {
    updateText();
    if (!state.images.length) return;
    if (state.inFlight) { state.pending = true; return; }
    const url = urlFor(state.index, state.frame);
    if (url === state.shown) return;
    state.inFlight = true;
    try {
      const element = await load(url);
      if (!state.alive) return;
      view.lines = state.measures.get(imageKey()) || [];
      view.setImage(element, image().spacing);
      state.shown = url;
      canvas.dataset.src = url;
      canvas.dataset.loaded = String(Number(canvas.dataset.loaded || 0) + 1);
      status("");
      updateText();
      prefetch();
    } catch (error) {
      status(error.message);
    } finally {
      state.inFlight = false;
    }
    if (state.pending && state.alive) { state.pending = false; refresh(); }
  }

  function status(text) {
    const box = $(".rad-status");
    box.hidden = !text;
    box.textContent = text;
  }

  function currentWindow() {
    const current = image();
    if (state.window) return state.window;
    return current.fileWindow || state.spans.get(imageKey()) || null;
  }

  function updateText() {
    if (!state.images.length) {
      for (const box of root.querySelectorAll(".rad-ov, .rad-measures")) box.replaceChildren();
      $(".rad-warning").hidden = true;
      return;
    }
    const current = image();
    const count = state.images.length;
    $(".rad-image-text").textContent = `image ${state.index + 1} / ${count}`;
    const slider = $(".rad-image-slider");
    slider.max = String(count);
    slider.value = String(state.index + 1);
    slider.closest("label").hidden = count < 2;
    const frames = current.frames;
    $(".rad-frames").hidden = frames < 2;
    $(".rad-frame-slider").max = String(frames);
    $(".rad-frame-slider").value = String(state.frame);
    $(".rad-frame-text").textContent = `frame ${state.frame} / ${frames}`;
    $(".rad-play").textContent = state.playing ? "Pause" : "Play";
    $(".rad-play").setAttribute("aria-pressed", String(state.playing));
    const window = currentWindow();
    const wl = !monochrome() ? "colour image: no window" : window
      ? `C ${round(window.center)} / W ${round(window.width)}` : "C/W auto (full range)";
    $(".rad-ov.tl").innerHTML = `<b>${esc(current.patientName || "(no name)")}</b><br>ID ${esc(current.patientId || "—")}`;
    $(".rad-ov.tr").innerHTML = `${esc(formatDate(current.studyDate))}<br>${esc(current.modality)} · S${esc(current.seriesNumber)} ${esc(current.seriesDescription)}`;
    $(".rad-ov.bl").innerHTML = `<span class="rad-ov-image">Im ${esc(current.number ?? state.index + 1)} · image ${state.index + 1} / ${count}</span>`
      + (frames > 1 ? `<br><span class="rad-ov-frame">frame ${state.frame} / ${frames}</span>` : "")
      + `<br>${current.columns} × ${current.rows}`;
    $(".rad-ov.br").innerHTML = `<span class="rad-ov-wl">${esc(wl)}</span> <span class="muted-ov">(${esc(state.preset)})</span>`
      + `<br><span class="rad-ov-zoom">zoom ${Math.round(view.scale * 100)}%</span>`;
    const warning = $(".rad-warning");
    if (!current.spacing) {
      warning.hidden = false;
      warning.textContent = "No pixel spacing in this image: lengths are in pixels (px).";
    } else if (current.spacingSource === "ImagerPixelSpacing") {
      warning.hidden = false;
      warning.textContent = "Lengths use ImagerPixelSpacing (at the detector, not corrected for magnification).";
    } else warning.hidden = true;
    for (const button of root.querySelectorAll(".rad-tool")) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === state.tool));
    }
    for (const button of root.querySelectorAll(".rad-preset")) {
      button.setAttribute("aria-pressed", String(button.dataset.preset === state.preset));
    }
    canvas.dataset.tool = state.tool;
    canvas.dataset.window = window ? `${round(window.center)},${round(window.width)}` : "";
    showMeasures();
  }

  function showMeasures() {
    const lines = state.measures.get(imageKey()) || [];
    $(".rad-measures").innerHTML = lines.map((line, n) => {
      const length = lineLength(line.a, line.b, image().spacing);
      return `<li data-length="${length.value}" data-unit="${length.unit}">Line ${n + 1}: ${esc(lengthText(length))}</li>`;
    }).join("");
  }

  function go(index, frame = 1) {
    const bounded = Math.max(0, Math.min(state.images.length - 1, index));
    if (bounded !== state.index) { state.index = bounded; state.frame = frame; }
    refresh();
  }

  function goFrame(frame) {
    const frames = image().frames;
    state.frame = Math.max(1, Math.min(frames, frame));
    refresh();
  }

  function setWindow(window, preset) {
    state.window = window;
    state.preset = preset;
    refresh();
  }

  function setTool(tool) { state.tool = tool; updateText(); }

  function applyPreset(preset) {
    setWindow(preset.center === null ? null : { center: preset.center, width: preset.width }, preset.name);
  }

  // Playback of the current instance's frames: the next frame is asked for once the
  // previous one is shown, at most at the chosen rate.
  function play(on) {
    state.playing = Boolean(on && state.images.length && image().frames > 1);
    clearTimeout(state.timer);
    if (state.playing) tick();
    updateText();
  }

  function tick() {
    if (!state.playing || !state.alive) return;
    const fps = Math.max(1, Math.min(60, Number($(".rad-fps").value) || 10));
    state.timer = setTimeout(async () => {
      if (!state.playing) return;
      const frames = image().frames;
      if (state.frame >= frames && !$(".rad-loop").checked) { play(false); return; }
      state.frame = state.frame >= frames ? 1 : state.frame + 1;
      await refresh();
      tick();
    }, 1000 / fps);
  }

  // Pointer input: one pointer drags in the current tool; two pointers pinch-zoom.
  const pointers = new Map();
  let drag = null;
  function point(event) {
    const box = canvas.getBoundingClientRect();
    return [event.clientX - box.left, event.clientY - box.top];
  }
  canvas.addEventListener("pointerdown", (event) => {
    if (!state.images.length || event.button > 0) return;
    canvas.setPointerCapture(event.pointerId);
    pointers.set(event.pointerId, point(event));
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      view.draft = null;
      drag = { pinch: Math.hypot(a[0] - b[0], a[1] - b[1]) };
      return;
    }
    const at = point(event);
    drag = { start: at, last: at, tool: state.tool };
    if (state.tool === "wl" && !monochrome()) drag.tool = "none"; // no window for colour
    else if (state.tool === "wl") {
      state.dragging = true;
      drag.base = currentWindow(); // unknown (the default full range): read the frame first
      if (!drag.base) {
        const [key, pending] = [imageKey(), drag];
        spanWindow(state.study, state.series, image(), state.frame).then((span) => {
          state.spans.set(key, span);
          pending.base = span;
          updateText();
        });
      }
    } else if (state.tool === "measure") {
      const start = view.toImage(at);
      view.draft = { a: start, b: start };
    }
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drag || !pointers.has(event.pointerId)) return;
    pointers.set(event.pointerId, point(event));
    if (drag.pinch) {
      const [a, b] = [...pointers.values()];
      const distance = Math.hypot(a[0] - b[0], a[1] - b[1]);
      view.zoom(distance / drag.pinch, [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]);
      drag.pinch = distance;
      updateText();
      return;
    }
    const at = point(event);
    const [dx, dy] = [at[0] - drag.last[0], at[1] - drag.last[1]];
    if (drag.tool === "pan") view.pan(dx, dy);
    else if (drag.tool === "scroll") {
      const steps = Math.trunc((at[1] - drag.start[1]) / SCROLL_PIXELS) - (drag.scrolled || 0);
      if (steps) {
        drag.scrolled = (drag.scrolled || 0) + steps;
        if (state.images.length > 1) go(state.index + steps); else goFrame(state.frame + steps);
      }
    }
    else if (drag.tool === "zoom") view.zoom(Math.exp(-dy / 150), drag.start);
    else if (drag.tool === "measure") { view.draft.b = view.toImage(at); view.draw(); }
    else if (drag.tool === "wl" && drag.base) {
      const [totalX, totalY] = [at[0] - drag.start[0], at[1] - drag.start[1]];
      const step = Math.max(drag.base.width, 2) / 250;
      state.window = { center: drag.base.center + totalY * step, width: Math.max(1, drag.base.width + totalX * step) };
      state.preset = "Custom";
      refresh();
    }
    drag.last = at;
    updateText();
  });
  function endDrag(event) {
    pointers.delete(event.pointerId);
    if (!drag) return;
    if (drag.tool === "measure" && view.draft && !drag.pinch) {
      const line = view.draft;
      view.draft = null;
      const [a, b] = [view.toScreen(line.a), view.toScreen(line.b)];
      if (Math.hypot(a[0] - b[0], a[1] - b[1]) >= 3) {
        const lines = state.measures.get(imageKey()) || [];
        lines.push(line);
        state.measures.set(imageKey(), lines);
        view.lines = lines;
      }
      view.draw();
    }
    if (pointers.size === 0) {
      drag = null;
      // neighbours in the new window, once the drag has settled
      setTimeout(() => { if (!drag) { state.dragging = false; prefetch(); } }, 400);
    }
    updateText();
  }
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);

  let wheelRest = 0;
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    if (!state.images.length) return;
    if (event.ctrlKey || event.metaKey) {
      view.zoom(Math.exp(-event.deltaY / 300), point(event));
      updateText();
      return;
    }
    wheelRest += event.deltaMode === 1 ? event.deltaY * 40 : event.deltaY;
    if (Math.abs(wheelRest) < 40) return;
    const step = Math.sign(wheelRest);
    wheelRest = 0;
    if (state.images.length > 1) go(state.index + step);
    else goFrame(state.frame + step);
  }, { passive: false });

  function onKey(event) {
    if (!state.images.length || event.target.closest("input, select, textarea")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    const frames = image().frames;
    const handled = {
      ArrowDown: () => go(state.index + 1), ArrowUp: () => go(state.index - 1),
      PageDown: () => go(state.index + 5), PageUp: () => go(state.index - 5),
      ArrowRight: () => (frames > 1 ? goFrame(state.frame + 1) : go(state.index + 1)),
      ArrowLeft: () => (frames > 1 ? goFrame(state.frame - 1) : go(state.index - 1)),
      Home: () => go(0), End: () => go(state.images.length - 1),
      " ": () => play(!state.playing),
      "+": () => { view.zoom(1.25); updateText(); }, "=": () => { view.zoom(1.25); updateText(); },
      "-": () => { view.zoom(0.8); updateText(); },
      f: () => { view.fit(); updateText(); },
      Delete: () => clearMeasures(), Backspace: () => clearMeasures(),
    };
    for (const tool of TOOLS) handled[tool.key] = () => setTool(tool.id);
    const presets = windowPresets();
    presets.forEach((preset, n) => { handled[String(n + 1)] = () => applyPreset(preset); });
    const action = handled[key] || handled[key.toLowerCase()];
    if (!action) return;
    event.preventDefault();
    action();
  }
  document.addEventListener("keydown", onKey);

  function clearMeasures() {
    state.measures.delete(imageKey());
    view.lines = [];
    view.draw();
    updateText();
  }

  root.querySelector(".rad-tools").addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || !state.images.length) return;
    if (button.dataset.tool) setTool(button.dataset.tool);
    else if (button.dataset.preset) {
      const preset = windowPresets().find((p) => p.name === button.dataset.preset);
      if (preset) applyPreset(preset);
    } else if (button.dataset.action === "zoom-in") view.zoom(1.25);
    else if (button.dataset.action === "zoom-out") view.zoom(0.8);
    else if (button.dataset.action === "fit") view.fit();
    else if (button.dataset.action === "clear") clearMeasures();
    else if (button.dataset.action === "reset") {
      state.measures.clear();
      view.lines = [];
      view.fit();
      applyPreset(windowPresets()[0]);
    }
    updateText();
  });
  $(".rad-image-slider").addEventListener("input", (event) => go(Number(event.target.value) - 1));
  $(".rad-frame-slider").addEventListener("input", (event) => goFrame(Number(event.target.value)));
  $(".rad-play").addEventListener("click", () => play(!state.playing));

  const resizer = new ResizeObserver(() => { view.resize(); updateText(); });
  resizer.observe($(".rad-stage"));

  // Windows apply to monochrome images only (the server ignores them for colour).
  function monochrome() { return image().photometric.startsWith("MONOCHROME"); }
  function windowPresets() { return presetsFor(monochrome() ? image().modality : ""); }

  function showPresets() {
    $(".rad-presets").innerHTML = windowPresets().map((preset, n) =>
      `<button type="button" class="secondary rad-preset" data-preset="${esc(preset.name)}" title="${esc(preset.name)} (${n + 1})">${esc(preset.name)}${preset.center === null ? "" : ` <small>${preset.center}/${preset.width}</small>`}</button>`).join("");
  }

  async function openSeries(study, series, startSop = "") {
    play(false);
    state.study = study;
    state.series = series;
    status("Loading the series…");
    let images;
    try {
      images = await seriesImages(study, series);
    } catch (error) {
      images = [];
      if (state.alive) status(error instanceof ApiError ? `${error.status}: ${error.message}` : String(error));
    }
    if (!state.alive || !images.length) {
      state.images = [];
      view.image = null;
      view.lines = [];
      view.draw();
      return;
    }
    state.images = images;
    state.index = Math.max(0, images.findIndex((i) => i.sop === startSop));
    state.frame = 1;
    state.window = null;
    state.preset = "Default";
    state.shown = "";
    const first = image();
    if (first.frames > 1) $(".rad-fps").value = String(first.frameRate || 10);
    view.image = null;
    view.fitted = true;
    showPresets();
    for (const item of root.querySelectorAll(".rad-series-item")) {
      item.setAttribute("aria-current", String(item.dataset.series === series));
    }
    refresh();
  }

  async function showSeriesList() {
    let all = target.all || [];
    try {
      const others = await studySeries(target.study);
      const known = new Set(all.map((s) => s.series));
      all = [...all, ...others.filter((s) => !known.has(s.series) && s.modality !== "SM")]
        .sort((a, b) => (Number(a.number) || 0) - (Number(b.number) || 0));
    } catch { /* the matched series are enough */ }
    if (!state.alive) return;
    $(".rad-series").innerHTML = all.map((s) => `
      <button type="button" class="rad-series-item" data-study="${esc(s.study)}" data-series="${esc(s.series)}" aria-current="${s.series === state.series}" title="${esc(s.description || s.series)}">
        <img src="${esc(thumbnailUrl(s.study, s.series))}" alt="" loading="lazy">
        <span>${esc(s.modality)} ${esc(s.number)}<br><small>${esc(s.description || "(no description)")}</small></span>
      </button>`).join("");
    for (const item of root.querySelectorAll(".rad-series-item")) {
      item.addEventListener("click", () => {
        if (item.dataset.series === state.series) return;
        const keys = new URLSearchParams({ studyinstanceuid: item.dataset.study, seriesinstanceuid: item.dataset.series });
        history.replaceState(null, "", `${location.pathname}#/viewer?${keys}`);
        openSeries(item.dataset.study, item.dataset.series);
      });
    }
  }

  showSeriesList();
  await openSeries(target.study, target.series, target.instance);
  return () => {
    state.alive = false;
    clearTimeout(state.timer);
    resizer.disconnect();
    document.removeEventListener("keydown", onKey);
  };
}
