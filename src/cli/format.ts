/** Output of predictions and events for people: table rows of the messages the engine encoded once (--json prints those messages as they are). */
import { UNKNOWN_LABEL } from '../config.ts';
import type { SoundEvent } from '../events/tracker.ts';
import type { PredictionMessage } from '../protocol/index.ts';

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
export function predictionRow(p: PredictionMessage): string {
  const ranked = Object.entries(p.scores).sort((a, b) => b[1] - a[1]);
  const [top, second] = ranked;
  const label = p.label === UNKNOWN_LABEL ? `cannot tell (${top?.[0]}?)` : p.label;
  const runner = second ? `${second[0]} ${second[1].toFixed(2)}` : '';
  return `${sec(p.startMs)}–${sec(p.endMs).trim()} s  ${label.padEnd(20)} ${p.confidence.toFixed(2)} ${bar(p.confidence)}  ${runner}`;
}

export const predictionHeader = `${'   time (s)'.padEnd(19)}  ${'label'.padEnd(20)} conf             runner-up`;

/** A table row for a window under the level gate: the model's output on it means nothing, so none is shown. */
export function quietRow(p: PredictionMessage): string {
  return `${sec(p.startMs)}–${sec(p.endMs).trim()} s  ${'(quiet)'.padEnd(20)} ${p.rmsDb === null ? 'digital silence' : `${p.rmsDb.toFixed(0)} dBFS`}`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Why an event ended, for people (an end without a reason is a sound that stopped). */
const REASON_TEXT: Record<NonNullable<SoundEvent['reason']>, string> = {
  'stream-ended': 'the stream ended',
  stopped: 'stopped',
  shutdown: 'server shut down',
  error: 'the stream failed',
  disabled: 'disabled',
  snoozed: 'snoozed',
  'model-changed': 'the new model has no such class',
};

/** One table line per event phase: `▶ fire started at 0.25 s …`, `■ fire ended: 0.25 s–4.00 s, 3.75 s …`. */
export function eventLine(e: SoundEvent): string {
  return e.phase === 'start'
    ? `▶ ${e.label} started at ${seconds(e.startMs)} (peak ${e.peakConfidence.toFixed(2)})`
    : `■ ${e.label} ended: ${seconds(e.startMs)}–${seconds(e.endMs!)}, ${seconds(e.endMs! - e.startMs)} (peak ${e.peakConfidence.toFixed(2)}, mean ${e.meanConfidence.toFixed(2)}${e.reason ? `; ${REASON_TEXT[e.reason]}` : ''})`;
}
