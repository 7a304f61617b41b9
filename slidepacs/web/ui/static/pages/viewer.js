// #/viewer?studyinstanceuid=…&seriesinstanceuid=…&sopinstanceuid=…&patientid=…&accessionnumber=…
// (equal matching only, SPEC §7): finds the series the keys name through QIDO-RS and opens the
// slide viewer for slide series (modality SM) and the radiology viewer for the others.
import { dicomweb, esc, value } from "../api.js";

const KEYS = {
  studyinstanceuid: "StudyInstanceUID", seriesinstanceuid: "SeriesInstanceUID",
  sopinstanceuid: "SOPInstanceUID", patientid: "PatientID", accessionnumber: "AccessionNumber",
};
const TAG = { study: "0020000D", series: "0020000E", modality: "00080060", description: "0008103E", number: "00200011" };

// The viewer's keys from the hash, "===v" and "=v" both meaning equal; unknown keys are refused.
export function viewerKeys(params) {
  const keys = {};
  for (const [name, raw] of params) {
    const keyword = KEYS[name.toLowerCase()];
    if (!keyword) throw new Error(`unknown viewer key "${name}" (use ${Object.keys(KEYS).join(", ")})`);
    keys[keyword] = raw.replace(/^==/, "");
  }
  if (!Object.keys(keys).length) throw new Error("say which images to open, e.g. #/viewer?studyinstanceuid=…");
  return keys;
}

async function seriesFor(keys) {
  const query = new URLSearchParams({ includefield: "SeriesDescription,SeriesNumber,Modality" });
  if (keys.SOPInstanceUID) {
    const found = await dicomweb(`instances?SOPInstanceUID=${encodeURIComponent(keys.SOPInstanceUID)}&includefield=SeriesInstanceUID`);
    if (!found.length) return [];
    keys = { ...keys, SeriesInstanceUID: value(found[0], TAG.series), StudyInstanceUID: value(found[0], TAG.study) };
  }
  for (const [keyword, text] of Object.entries(keys)) if (keyword !== "SOPInstanceUID") query.append(keyword, text);
  const series = await dicomweb(`series?${query}`);
  return series.map((item) => ({
    study: value(item, TAG.study), series: value(item, TAG.series), modality: value(item, TAG.modality),
    description: value(item, TAG.description), number: value(item, TAG.number),
  })).sort((a, b) => (Number(a.number) || 0) - (Number(b.number) || 0));
}

export async function render(root, params, ctx) {
  let keys;
  try { keys = viewerKeys(params); } catch (error) {
    root.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    return;
  }
  const series = await seriesFor(keys);
  if (!series.length) {
    root.innerHTML = `<p class="error">No images match ${esc(new URLSearchParams(keys).toString())}.</p>`;
    return;
  }
  const chosen = series[0];
  const target = { ...chosen, instance: keys.SOPInstanceUID || "", all: series };
  const page = chosen.modality === "SM" ? await import("./slide.js") : await import("./radiology.js");
  return page.show(root, target, ctx);
}
