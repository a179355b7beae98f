/** Human-readable output of predictions. */
import { UNKNOWN_LABEL } from '../config.ts';
import { type Prediction } from '../stream/operators.ts';

const BAR = ' ▏▎▍▌▋▊▉█';

/** A bar of `width` cells for a value in [0, 1]. */
export function bar(value: number, width = 10): string {
  const cells = Math.max(0, Math.min(1, value)) * width;
  const full = Math.floor(cells);
  const part = Math.round((cells - full) * 8);
  return ('█'.repeat(full) + (full < width && part ? BAR[part] : '')).padEnd(width, ' ');
}

const sec = (ms: number) => (ms / 1000).toFixed(2).padStart(7);

/** One table row per prediction: time span, label, confidence bar, runner-up. */
export function predictionRow(p: Prediction): string {
  const ranked = Object.entries(p.scores).sort((a, b) => b[1] - a[1]);
  const [top, second] = ranked;
  const label = p.label === UNKNOWN_LABEL ? `cannot tell (${top?.[0]}?)` : p.label;
  const runner = second ? `${second[0]} ${second[1].toFixed(2)}` : '';
  return `${sec(p.startMs)}–${sec(p.endMs).trim()} s  ${label.padEnd(20)} ${p.confidence.toFixed(2)} ${bar(p.confidence)}  ${runner}`;
}

export const predictionHeader = `${'   time (s)'.padEnd(19)}  ${'label'.padEnd(20)} conf             runner-up`;

/** Rounds scores for JSON output (4 decimals is below any decision the threshold makes). */
export function roundPrediction(p: Prediction): Prediction {
  const r = (x: number) => Math.round(x * 1e4) / 1e4;
  const scores: Record<string, number> = {};
  for (const [k, v] of Object.entries(p.scores)) scores[k] = r(v);
  return { ...p, confidence: r(p.confidence), scores, rmsDb: Math.round(p.rmsDb * 10) / 10 };
}
