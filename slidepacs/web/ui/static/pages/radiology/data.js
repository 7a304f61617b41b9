// What the radiology viewer knows about a series: its images in display order with the
// attributes that shape their display (from WADO-RS metadata), window presets per modality,
// the URL of a rendered frame, and the full-range window of a frame (from its raw values).
import { dicomweb, request, value } from "../../api.js";

const TAG = {
  sop: "00080018", modality: "00080060", studyDate: "00080020", patientName: "00100010",
  patientId: "00100020", seriesDescription: "0008103E", seriesNumber: "00200011",
  instanceNumber: "00200013", position: "00200032", orientation: "00200037",
  rows: "00280010", columns: "00280011", frames: "00280008", pixelSpacing: "00280030",
  imagerSpacing: "00181164", center: "00281050", width: "00281051", intercept: "00281052",
  slope: "00281053", photometric: "00280004", bitsStored: "00280101", bitsAllocated: "00280100",
  signed: "00280103", frameTime: "00181063", frameRate: "00082144", cineRate: "00180040",
  shared: "52009229", pixelMeasures: "00289110", frameVoi: "00289132", transform: "00289145",
};
const EXPLICIT_LE = "1.2.840.10008.1.2.1";

// Window presets (center, width in modality values) per modality; "Default" (the file's
// window, else the frame's full range) is always offered first.
export const PRESETS = {
  CT: [
    { name: "Soft tissue", center: 40, width: 400 },
    { name: "Lung", center: -600, width: 1500 },
    { name: "Bone", center: 300, width: 1500 },
    { name: "Brain", center: 40, width: 80 },
  ],
};

export function presetsFor(modality) {
  return [{ name: "Default", center: null, width: null }, ...(PRESETS[modality] || [])];
}

// Every value of a DICOM JSON attribute ([] when absent).
export function values(item, tag) {
  const element = item && item[tag];
  return element && Array.isArray(element.Value) ? element.Value : [];
}

function number(item, tag, fallback = null) {
  const raw = values(item, tag)[0];
  const parsed = Number(raw);
  return raw === undefined || raw === null || raw === "" || !Number.isFinite(parsed) ? fallback : parsed;
}

function numbers(item, tag) {
  const list = values(item, tag).map(Number);
  return list.length && list.every(Number.isFinite) ? list : null;
}

function first(item, tag) { return values(item, tag)[0] || {}; }

// One image's display attributes from its DICOM JSON.
export function describe(item) {
  const shared = first(item, TAG.shared);
  const measures = first(shared, TAG.pixelMeasures);
  const voi = first(shared, TAG.frameVoi);
  const transform = first(shared, TAG.transform);
  let spacing = numbers(item, TAG.pixelSpacing) || numbers(measures, TAG.pixelSpacing);
  let spacingSource = spacing ? "PixelSpacing" : "";
  if (!spacing && numbers(item, TAG.imagerSpacing)) {
    spacing = numbers(item, TAG.imagerSpacing);
    spacingSource = "ImagerPixelSpacing";
  }
  const windowSource = values(item, TAG.center).length ? item : voi;
  const center = number(windowSource, TAG.center);
  const width = number(windowSource, TAG.width);
  const frameTime = number(item, TAG.frameTime);
  const rate = number(item, TAG.frameRate) || number(item, TAG.cineRate)
    || (frameTime ? 1000 / frameTime : null);
  return {
    sop: value(item, TAG.sop),
    modality: value(item, TAG.modality),
    number: number(item, TAG.instanceNumber),
    position: numbers(item, TAG.position),
    orientation: numbers(item, TAG.orientation),
    rows: number(item, TAG.rows, 0),
    columns: number(item, TAG.columns, 0),
    frames: Math.max(1, number(item, TAG.frames, 1)),
    spacing: spacing && spacing.length >= 2 && spacing[0] > 0 && spacing[1] > 0 ? spacing.slice(0, 2) : null,
    spacingSource,
    fileWindow: center !== null && width !== null && width > 0 ? { center, width } : null,
    slope: number(item, TAG.slope) ?? number(transform, TAG.slope, 1),
    intercept: number(item, TAG.intercept) ?? number(transform, TAG.intercept, 0),
    photometric: value(item, TAG.photometric),
    bitsStored: number(item, TAG.bitsStored, 8),
    bitsAllocated: number(item, TAG.bitsAllocated, 8),
    signed: number(item, TAG.signed, 0) === 1,
    frameRate: rate && rate > 0 && rate <= 120 ? Math.round(rate) : null,
    patientName: value(item, TAG.patientName),
    patientId: value(item, TAG.patientId),
    studyDate: value(item, TAG.studyDate),
    seriesDescription: value(item, TAG.seriesDescription),
    seriesNumber: value(item, TAG.seriesNumber),
  };
}

function along(image) {
  const [a, b, c, d, e, f] = image.orientation;
  const normal = [b * f - c * e, c * d - a * f, a * e - b * d];
  return normal[0] * image.position[0] + normal[1] * image.position[1] + normal[2] * image.position[2];
}

// Images in display order: by position along the slice normal when every image has one
// (in the direction the instance numbers run), else by instance number.
export function ordered(images) {
  const byNumber = (a, b) => (a.number ?? 0) - (b.number ?? 0);
  if (images.length > 1 && images.every((i) => i.position && i.orientation && i.orientation.length === 6)) {
    const sorted = [...images].sort((a, b) => along(a) - along(b) || byNumber(a, b));
    const [head, tail] = [sorted[0].number, sorted[sorted.length - 1].number];
    return head !== null && tail !== null && head > tail ? sorted.reverse() : sorted;
  }
  return [...images].sort(byNumber);
}

// The series' images (instances with pixels), in display order.
export async function seriesImages(study, series) {
  const items = await dicomweb(`studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}/metadata`);
  return ordered(items.map(describe).filter((image) => image.rows && image.columns));
}

// The study's series (for the series list), ordered by series number.
export async function studySeries(study) {
  const query = "includefield=SeriesDescription,SeriesNumber,Modality,NumberOfSeriesRelatedInstances";
  const found = await dicomweb(`studies/${encodeURIComponent(study)}/series?${query}`);
  return found.map((item) => ({
    study, series: value(item, "0020000E"), modality: value(item, TAG.modality),
    description: value(item, TAG.seriesDescription), number: value(item, TAG.seriesNumber),
    count: value(item, "00201209"),
  })).sort((a, b) => (Number(a.number) || 0) - (Number(b.number) || 0));
}

function instancePath(study, series, sop) {
  return `/dicom-web/studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}/instances/${encodeURIComponent(sop)}`;
}

// The rendered frame (from 1) through a window ({center, width}; null: the file's default).
export function renderedUrl(study, series, sop, frame, window) {
  const base = `${instancePath(study, series, sop)}/frames/${frame}/rendered`;
  return window ? `${base}?window=${round(window.center)},${round(window.width)},linear` : base;
}

export function round(x) { return Math.round(x * 100) / 100; }

export function thumbnailUrl(study, series) {
  return `/dicom-web/studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}/thumbnail`;
}

// The window from the frame's lowest to highest modality value (what the server shows by
// default when the file has no window), read from the frame's raw values; for drags that
// start from the default. Falls back to the range BitsStored allows.
export async function spanWindow(study, series, image, frame) {
  try {
    if (!image.photometric.startsWith("MONOCHROME")) throw new Error("colour");
    const response = await request(`${instancePath(study, series, image.sop)}/frames/${frame}`,
      { headers: { Accept: `application/octet-stream; transfer-syntax=${EXPLICIT_LE}` } });
    const buffer = await response.arrayBuffer();
    const Type = image.bitsAllocated > 8 ? (image.signed ? Int16Array : Uint16Array)
      : (image.signed ? Int8Array : Uint8Array);
    const raw = new Type(buffer, 0, Math.floor(buffer.byteLength / Type.BYTES_PER_ELEMENT));
    const shift = 32 - image.bitsStored;
    let low = Infinity, high = -Infinity;
    for (let i = 0; i < raw.length; i++) {
      const stored = image.bitsStored < image.bitsAllocated
        ? (image.signed ? (raw[i] << shift) >> shift : raw[i] & ((1 << image.bitsStored) - 1)) : raw[i];
      if (stored < low) low = stored;
      if (stored > high) high = stored;
    }
    if (!raw.length) throw new Error("empty frame");
    const [a, b] = [low * image.slope + image.intercept, high * image.slope + image.intercept];
    const [min, max] = a < b ? [a, b] : [b, a];
    return { center: (min + max) / 2, width: Math.max(1, max - min) };
  } catch {
    const levels = 2 ** image.bitsStored;
    const min = (image.signed ? -levels / 2 : 0) * image.slope + image.intercept;
    const width = Math.max(1, levels * Math.abs(image.slope));
    return { center: min + width / 2, width };
  }
}
