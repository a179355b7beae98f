// Small helpers the dashboard's modules share.

export const $ = (id) => document.getElementById(id);

export function fmtSec(ms) {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** An RGB image from the server ({width, height, data: base64 RGB}) as canvas pixels. */
export function decodeRgb(img) {
  const bin = atob(img.data);
  const out = new ImageData(img.width, img.height);
  for (let i = 0, p = 0; i < img.width * img.height; i++, p += 3) {
    out.data[4 * i] = bin.charCodeAt(p);
    out.data[4 * i + 1] = bin.charCodeAt(p + 1);
    out.data[4 * i + 2] = bin.charCodeAt(p + 2);
    out.data[4 * i + 3] = 255;
  }
  return out;
}
