/** Output of predictions and events: table rows for people, rounded messages for JSON and the wire. */
import { UNKNOWN_LABEL } from '../config.ts';
import type { SoundEvent } from '../events/tracker.ts';
import type { Prediction } from '../stream/operators.ts';

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

/** A table row for a window under the level gate: the model's output on it means nothing, so none is shown. */
export function quietRow(p: Prediction): string {
  return `${sec(p.startMs)}–${sec(p.endMs).trim()} s  ${'(quiet)'.padEnd(20)} ${Number.isFinite(p.rmsDb) ? `${p.rmsDb.toFixed(0)} dBFS` : 'digital silence'}`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** One table line per event phase: `▶ fire started at 0.25 s …`, `■ fire ended: 0.25 s–4.00 s, 3.75 s …`. */
export function eventLine(e: SoundEvent): string {
  return e.phase === 'start'
    ? `▶ ${e.label} started at ${seconds(e.startMs)} (peak ${e.peakConfidence.toFixed(2)})`
    : `■ ${e.label} ended: ${seconds(e.startMs)}–${seconds(e.endMs!)}, ${seconds(e.endMs! - e.startMs)} (peak ${e.peakConfidence.toFixed(2)}, mean ${e.meanConfidence.toFixed(2)}${e.reason ? `; ${e.reason}` : ''})`;
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** Rounds scores for JSON output (4 decimals is below any decision the threshold makes). */
export function roundPrediction(p: Prediction): Prediction {
  const scores: Record<string, number> = {};
  for (const [k, v] of Object.entries(p.scores)) scores[k] = round4(v);
  return { ...p, confidence: round4(p.confidence), scores, rmsDb: Math.round(p.rmsDb * 10) / 10 };
}

/** An event as printed (--json) and published: `type: 'event'`, confidences rounded like predictions'. */
export function eventMessage(e: SoundEvent): { type: 'event' } & SoundEvent {
  return { type: 'event', ...e, peakConfidence: round4(e.peakConfidence), meanConfidence: round4(e.meanConfidence) };
}
