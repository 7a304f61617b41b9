// What the radiology viewer knows about a series: its images in display order with the
// attributes that shape their display (from /viewer/api), window presets per modality,
// the URL of a rendered frame, and the full-range window of a frame (from its raw values).
import { api, dicomweb, request, value } from "../../api.js";

const TAG = {
  modality: "00080060", seriesDescription: "0008103E", seriesNumber: "00200011",
  seriesInstances: "00201209", series: "0020000E",
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

// The series' images in display order (from the viewer API: only what display needs, far
// lighter than the full WADO-RS metadata of a large series), each with the series' labels.
export async function seriesImages(study, series) {
  const found = await api(`radiology/studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}`);
  const labels = {
    modality: found.modality, patientName: found.patient_name, patientId: found.patient_id,
    studyDate: found.study_date, seriesDescription: found.series_description,
    seriesNumber: found.series_number,
  };
  return found.images.map((image) => ({
    ...labels,
    sop: image.sop, number: image.number, rows: image.rows, columns: image.columns,
    frames: image.frames, spacing: image.spacing, spacingSource: image.spacing_source,
    fileWindow: image.window, slope: image.slope, intercept: image.intercept,
    photometric: image.photometric, bitsStored: image.bits_stored,
    bitsAllocated: image.bits_allocated, signed: image.signed,
    frameRate: image.frame_rate ? Math.max(1, Math.round(image.frame_rate)) : null,
  }));
}

// The study's series (for the series list), ordered by series number.
export async function studySeries(study) {
  const query = "includefield=SeriesDescription,SeriesNumber,Modality,NumberOfSeriesRelatedInstances";
  const found = await dicomweb(`studies/${encodeURIComponent(study)}/series?${query}`);
  return found.map((item) => ({
    study, series: value(item, TAG.series), modality: value(item, TAG.modality),
    description: value(item, TAG.seriesDescription), number: value(item, TAG.seriesNumber),
    count: value(item, TAG.seriesInstances),
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
