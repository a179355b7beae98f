/** The few-shot benchmark's plot: recall against k, one line per sound type (SVG, rasterised by writeSvg). */
import type { Cell } from './fewshot.ts';

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/**
 * Recall (events) against k for each type, one panel per variant; the goal (0.8 at k = 5) marked.
 * @param recordings distinct recordings per type (shown in the legend).
 */
export function recallPlotSvg(cells: readonly Cell[], recordings: Readonly<Record<string, number>>): string {
  const variants = [...new Set(cells.map((c) => c.variant))];
  const types = [...new Set(cells.map((c) => c.type))].sort();
  const ks = [...new Set(cells.map((c) => c.k))].sort((a, b) => a - b);
  const pw = 360;
  const ph = 260;
  const left = 60;
  const top = 60;
  const gap = 90;
  const W = left + variants.length * (pw + gap) + 120;
  const H = top + ph + 70;
  const x = (k: number, x0: number) => x0 + (ks.length > 1 ? (ks.indexOf(k) / (ks.length - 1)) * pw : pw / 2);
  const y = (v: number) => top + ph - v * ph;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="16">Learning a new sound from k recordings: recall on other recordings (event layer)</text>`,
  ];
  variants.forEach((v, p) => {
    const x0 = left + p * (pw + gap);
    out.push(`<text x="${x0 + pw / 2}" y="${top - 12}" text-anchor="middle" font-size="14" font-weight="bold">${esc(v)}</text>`);
    out.push(`<rect x="${x0}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
    for (let t = 0; t <= 5; t++) {
      const v2 = t / 5;
      out.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${y(v2)}" y2="${y(v2)}" stroke="#eee"/>`);
      out.push(`<text x="${x0 - 6}" y="${y(v2) + 4}" text-anchor="end" font-size="11">${v2.toFixed(1)}</text>`);
    }
    out.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${y(0.8)}" y2="${y(0.8)}" stroke="#999" stroke-dasharray="4,4"/>`);
    for (const k of ks) out.push(`<text x="${x(k, x0)}" y="${top + ph + 16}" text-anchor="middle" font-size="11">${k}</text>`);
    out.push(`<text x="${x0 + pw / 2}" y="${top + ph + 34}" text-anchor="middle" font-size="12">k (recordings learned from)</text>`);
    types.forEach((type, i) => {
      const pts = cells.filter((c) => c.variant === v && c.type === type).sort((a, b) => a.k - b.k);
      if (!pts.length) return;
      const color = COLORS[i % COLORS.length]!;
      out.push(
        `<polyline points="${pts.map((c) => `${x(c.k, x0).toFixed(1)},${y(c.recall).toFixed(1)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`,
      );
      for (const c of pts) out.push(`<circle cx="${x(c.k, x0).toFixed(1)}" cy="${y(c.recall).toFixed(1)}" r="3" fill="${color}"/>`);
    });
  });
  types.forEach((type, i) => {
    const lx = left + variants.length * (pw + gap) - 40;
    const ly = top + 10 + 18 * i;
    out.push(`<line x1="${lx}" x2="${lx + 20}" y1="${ly}" y2="${ly}" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`);
    out.push(`<text x="${lx + 26}" y="${ly + 4}" font-size="12">${esc(type)} (${recordings[type] ?? '?'})</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
