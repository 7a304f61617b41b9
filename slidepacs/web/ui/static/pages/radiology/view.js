// The image canvas of the radiology viewer: a rendered frame drawn through a zoom/pan
// transform (screen x = column × scale + offset x, screen y = row × scale × aspect + offset y,
// in CSS pixels; aspect = row spacing / column spacing, so that non-square pixels keep their
// true shape), and length measurements drawn over it in image pixel coordinates.

const MIN_SCALE = 0.05;
const MAX_SCALE = 40;

// The length of a line in image pixels (column, row) as mm from PixelSpacing [row spacing,
// column spacing], or as pixels when there is no spacing.
export function lineLength(a, b, spacing) {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  if (!spacing) return { value: Math.hypot(dx, dy), unit: "px" };
  return { value: Math.hypot(dx * spacing[1], dy * spacing[0]), unit: "mm" };
}

export function lengthText(length) {
  return `${length.value.toFixed(length.unit === "mm" ? 1 : 0)} ${length.unit}`;
}

export class ImageView {
  constructor(canvas) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.image = null;
    this.scale = 1;
    this.offset = [0, 0];
    this.fitted = true;
    this.lines = [];
    this.draft = null;
    this.spacing = null;
    this.aspect = 1;
    this.size = [0, 0];
    this.resize();
  }

  // Match the canvas' backing store to its box (and the device pixel ratio).
  resize() {
    const box = this.canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const [width, height] = [Math.max(1, Math.round(box.width)), Math.max(1, Math.round(box.height))];
    if (width === this.size[0] && height === this.size[1]) return;
    this.size = [width, height];
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    if (this.fitted) this.fit(); else this.draw();
  }

  // Show an image whose pixels are ``spacing`` [row, column] mm apart (null: unknown).
  setImage(image, spacing) {
    const aspect = spacing ? spacing[0] / spacing[1] : 1;
    const changed = !this.image || this.aspect !== aspect
      || this.image.naturalWidth !== image.naturalWidth
      || this.image.naturalHeight !== image.naturalHeight;
    this.image = image;
    this.spacing = spacing;
    this.aspect = aspect;
    if (changed) this.fit(); else this.draw();
  }

  fit() {
    this.fitted = true;
    if (!this.image) return this.draw();
    const [width, height] = this.size;
    const tall = this.image.naturalHeight * this.aspect;
    const scale = Math.min(width / this.image.naturalWidth, height / tall);
    this.scale = Math.max(MIN_SCALE, scale);
    this.offset = [(width - this.image.naturalWidth * this.scale) / 2,
      (height - tall * this.scale) / 2];
    this.draw();
  }

  // Zoom by a factor around a point of the canvas (CSS pixels; default: the centre).
  zoom(factor, at = [this.size[0] / 2, this.size[1] / 2]) {
    const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale * factor));
    const real = scale / this.scale;
    this.offset = [at[0] - (at[0] - this.offset[0]) * real, at[1] - (at[1] - this.offset[1]) * real];
    this.scale = scale;
    this.fitted = false;
    this.draw();
  }

  pan(dx, dy) {
    this.offset = [this.offset[0] + dx, this.offset[1] + dy];
    this.fitted = false;
    this.draw();
  }

  toImage(point) {
    return [(point[0] - this.offset[0]) / this.scale,
      (point[1] - this.offset[1]) / (this.scale * this.aspect)];
  }

  toScreen(point) {
    return [point[0] * this.scale + this.offset[0],
      point[1] * this.scale * this.aspect + this.offset[1]];
  }

  draw() {
    const ratio = this.canvas.width / this.size[0];
    const context = this.context;
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.fillStyle = "#000";
    context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.canvas.dataset.transform = `${this.scale},${this.offset[0]},${this.offset[1]},${this.aspect}`;
    if (!this.image) return;
    context.setTransform(ratio * this.scale, 0, 0, ratio * this.scale * this.aspect,
      ratio * this.offset[0], ratio * this.offset[1]);
    context.imageSmoothingEnabled = this.scale < 3;
    context.drawImage(this.image, 0, 0);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    for (const line of this.draft ? [...this.lines, this.draft] : this.lines) this.drawLine(line);
  }

  drawLine(line) {
    const context = this.context;
    const [a, b] = [this.toScreen(line.a), this.toScreen(line.b)];
    context.lineWidth = 2;
    context.strokeStyle = "#ffd54a";
    context.beginPath();
    context.moveTo(...a);
    context.lineTo(...b);
    context.stroke();
    for (const end of [a, b]) {
      context.beginPath();
      context.arc(end[0], end[1], 3.5, 0, 2 * Math.PI);
      context.stroke();
    }
    const text = lengthText(lineLength(line.a, line.b, this.spacing));
    context.font = "600 14px system-ui, sans-serif";
    const width = context.measureText(text).width;
    const right = b[0] >= a[0] ? b : a;
    const x = Math.min(right[0] + 8, this.size[0] - width - 6);
    const y = Math.max(18, Math.min(right[1] + 5, this.size[1] - 6));
    context.fillStyle = "rgba(0,0,0,.65)";
    context.fillRect(x - 4, y - 14, width + 8, 19);
    context.fillStyle = "#ffd54a";
    context.fillText(text, x, y);
  }
}
