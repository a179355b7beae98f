/**
 * Plots as SVG, rasterised to PNG with sharp (librsvg): training curves and confusion matrices.
 */
import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { colormapLut } from '../features/colormap.ts';

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** Writes an SVG string as PNG (or as SVG when the path ends in .svg). */
export async function writeSvg(path: string, svg: string): Promise<void> {
  if (path.endsWith('.svg')) await writeFile(path, svg);
  else await sharp(Buffer.from(svg), { density: 96 }).png().toFile(path);
}

export interface Series {
  name: string;
  values: number[];
  color: string;
  dashed?: boolean;
}

function panel(
  x0: number,
  y0: number,
  w: number,
  h: number,
  title: string,
  series: Series[],
  yMin?: number,
  yMax?: number,
  mark?: number,
): string {
  // a series without values (validation when training had none) is left out
  series = series.filter((s) => s.values.some(Number.isFinite));
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  const lo = yMin ?? Math.min(...all, 0);
  const hi = yMax ?? Math.max(...all, 1e-9) * 1.05;
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const px = (i: number) => x0 + (i / (n - 1)) * w;
  const py = (v: number) => y0 + h - ((v - lo) / (hi - lo || 1)) * h;
  const out: string[] = [
    `<text x="${x0 + w / 2}" y="${y0 - 10}" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#888"/>`);
  for (let t = 0; t <= 4; t++) {
    const v = lo + ((hi - lo) * t) / 4;
    out.push(`<line x1="${x0}" x2="${x0 + w}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`);
    out.push(`<text x="${x0 - 6}" y="${py(v) + 4}" text-anchor="end" font-size="11">${v.toFixed(2)}</text>`);
  }
  const step = Math.max(1, Math.ceil(n / 10));
  for (let i = 0; i < n; i += step) out.push(`<text x="${px(i)}" y="${y0 + h + 16}" text-anchor="middle" font-size="11">${i + 1}</text>`);
  out.push(`<text x="${x0 + w / 2}" y="${y0 + h + 34}" text-anchor="middle" font-size="12">epoch</text>`);
  if (mark !== undefined)
    out.push(`<line x1="${px(mark)}" x2="${px(mark)}" y1="${y0}" y2="${y0 + h}" stroke="#999" stroke-dasharray="3,3"/>`);
  series.forEach((s, k) => {
    const pts = s.values.map((v, i) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ''}/>`);
    out.push(
      `<line x1="${x0 + 10}" x2="${x0 + 30}" y1="${y0 + 14 + 16 * k}" y2="${y0 + 14 + 16 * k}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ''}/>`,
    );
    out.push(`<text x="${x0 + 36}" y="${y0 + 18 + 16 * k}" font-size="12">${esc(s.name)}</text>`);
  });
  return out.join('\n');
}

/** Loss and accuracy per epoch, train vs validation, with the kept epoch marked. */
export function trainingCurvesSvg(
  h: { loss: number[]; acc: number[]; valLoss: number[]; valAcc: number[] },
  bestEpoch: number,
  title: string,
): string {
  const W = 900;
  const H = 380;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="22" text-anchor="middle" font-size="16">${esc(title)}</text>
${panel(
  70,
  60,
  330,
  260,
  'loss',
  [
    { name: 'train', values: h.loss, color: '#1f77b4' },
    { name: 'validation', values: h.valLoss, color: '#d62728', dashed: true },
  ],
  0,
  undefined,
  bestEpoch,
)}
${panel(
  520,
  60,
  330,
  260,
  'accuracy',
  [
    { name: 'train', values: h.acc, color: '#1f77b4' },
    { name: 'validation', values: h.valAcc, color: '#d62728', dashed: true },
  ],
  0,
  1,
  bestEpoch,
)}
</svg>`;
}

/** A confusion matrix heat map (rows: true class, columns: predicted), counts in the cells, rows normalised for colour. */
export function confusionSvg(classes: readonly string[], m: readonly number[][], title: string): string {
  const k = classes.length;
  const cell = Math.max(36, Math.min(64, Math.floor(520 / k)));
  const left = 110;
  const top = 90;
  const W = left + k * cell + 30;
  const H = top + k * cell + 60;
  const lut = colormapLut('viridis');
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="16">${esc(title)}</text>`,
    `<text x="${left + (k * cell) / 2}" y="${H - 12}" text-anchor="middle" font-size="13">predicted</text>`,
    `<text x="16" y="${top + (k * cell) / 2}" text-anchor="middle" font-size="13" transform="rotate(-90 16 ${top + (k * cell) / 2})">true</text>`,
  ];
  m.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    out.push(`<text x="${left - 6}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end" font-size="12">${esc(classes[i]!)}</text>`);
    row.forEach((v, j) => {
      const level = Math.round((v / total) * 255);
      const [r, g, b] = [lut[3 * level], lut[3 * level + 1], lut[3 * level + 2]];
      out.push(
        `<rect x="${left + j * cell}" y="${top + i * cell}" width="${cell}" height="${cell}" fill="rgb(${r},${g},${b})" stroke="white"/>`,
      );
      out.push(
        `<text x="${left + j * cell + cell / 2}" y="${top + i * cell + cell / 2 + 4}" text-anchor="middle" font-size="12" fill="${level > 140 ? 'black' : 'white'}">${v}</text>`,
      );
    });
  });
  classes.forEach((c, j) => {
    out.push(
      `<text x="${left + j * cell + cell / 2}" y="${top - 8}" text-anchor="start" font-size="12" transform="rotate(-40 ${left + j * cell + cell / 2} ${top - 8})">${esc(c)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

/** What a reliability diagram draws of one set of predictions (a CalibrationReport fits). */
export interface ReliabilityCurve {
  name: string;
  ece: number;
  bins: readonly { lo: number; hi: number; count: number; confidence: number; accuracy: number }[];
}

/**
 * A reliability diagram: per confidence bin, the share of right answers against the mean confidence
 * (on the diagonal when calibrated), one curve per set of predictions, and below it how many items
 * fall in each bin.
 */
export function reliabilitySvg(curves: readonly ReliabilityCurve[], title: string): string {
  const W = 620;
  const H = 660;
  const x0 = 80;
  const y0 = 60;
  const w = 460;
  const h = 400;
  const hy0 = y0 + h + 50;
  const hh = 90;
  const colors = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd'];
  const px = (v: number) => x0 + v * w;
  const py = (v: number) => y0 + h - v * h;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16">${esc(title)}</text>`,
    `<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#888"/>`,
    `<line x1="${px(0)}" y1="${py(0)}" x2="${px(1)}" y2="${py(1)}" stroke="#999" stroke-dasharray="4,4"/>`,
  ];
  for (let t = 0; t <= 10; t += 2) {
    const v = t / 10;
    out.push(`<text x="${x0 - 6}" y="${py(v) + 4}" text-anchor="end" font-size="11">${v.toFixed(1)}</text>`);
    out.push(`<text x="${px(v)}" y="${y0 + h + 16}" text-anchor="middle" font-size="11">${v.toFixed(1)}</text>`);
  }
  out.push(`<text x="${x0 + w / 2}" y="${y0 + h + 34}" text-anchor="middle" font-size="12">confidence (top-class probability)</text>`);
  out.push(
    `<text x="22" y="${y0 + h / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 22 ${y0 + h / 2})">share right</text>`,
  );
  const maxCount = Math.max(1, ...curves.flatMap((c) => c.bins.map((b) => b.count)));
  curves.forEach((c, k) => {
    const color = colors[k % colors.length]!;
    const pts = c.bins.filter((b) => b.count > 0);
    out.push(
      `<polyline points="${pts.map((b) => `${px(b.confidence).toFixed(1)},${py(b.accuracy).toFixed(1)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`,
    );
    for (const b of pts)
      out.push(`<circle cx="${px(b.confidence).toFixed(1)}" cy="${py(b.accuracy).toFixed(1)}" r="3.5" fill="${color}"/>`);
    out.push(
      `<line x1="${x0 + 12}" x2="${x0 + 32}" y1="${y0 + 16 + 18 * k}" y2="${y0 + 16 + 18 * k}" stroke="${color}" stroke-width="2"/>`,
    );
    out.push(`<text x="${x0 + 38}" y="${y0 + 20 + 18 * k}" font-size="12">${esc(`${c.name} (ECE ${c.ece.toFixed(3)})`)}</text>`);
    // item counts per bin, side by side
    const bw = w / (c.bins.length || 1) / curves.length;
    c.bins.forEach((b, j) => {
      const bh = (b.count / maxCount) * hh;
      out.push(
        `<rect x="${(px(b.lo) + k * bw).toFixed(1)}" y="${(hy0 + hh - bh).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${bh.toFixed(1)}" fill="${color}" opacity="0.7"/>`,
      );
      if (j === 0 && k === 0) out.push(`<text x="${x0 - 6}" y="${hy0 + 10}" text-anchor="end" font-size="11">${maxCount}</text>`);
    });
  });
  out.push(`<line x1="${x0}" x2="${x0 + w}" y1="${hy0 + hh}" y2="${hy0 + hh}" stroke="#888"/>`);
  out.push(`<text x="${x0 + w / 2}" y="${hy0 + hh + 18}" text-anchor="middle" font-size="12">items per confidence bin</text>`);
  out.push('</svg>');
  return out.join('\n');
}
