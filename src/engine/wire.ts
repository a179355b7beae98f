/**
 * The one encoder of the pipeline's outputs for the wire (WebSocket protocol v1) and for JSON output:
 * every route (listen, replay, serve's ingest, the benchmark's server) sends predictions and events
 * through these two functions, so that they cannot drift apart.
 */
import type { SoundEvent } from '../events/tracker.ts';
import type { EventInput, PredictionMessage } from '../protocol/index.ts';
import type { Prediction } from '../stream/operators.ts';

/** Probabilities are sent with 4 decimals: below any decision the thresholds make, and a third of the bytes. */
const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
/** Levels with 0.1 dB. */
const round1 = (x: number) => Math.round(x * 10) / 10;

/**
 * A prediction as sent: scores and confidence rounded to 4 decimals, rmsDb to 0.1 dB and null for
 * digital silence (JSON has no -Infinity).
 */
export function encodePrediction(p: Prediction): PredictionMessage {
  const scores: Record<string, number> = {};
  for (const [k, v] of Object.entries(p.scores)) scores[k] = round4(v);
  return {
    type: 'prediction',
    streamId: p.streamId,
    index: p.index,
    startMs: p.startMs,
    endMs: p.endMs,
    label: p.label,
    confidence: round4(p.confidence),
    scores,
    rmsDb: Number.isFinite(p.rmsDb) ? round1(p.rmsDb) : null,
  };
}

/** An event as published (the server adds `type` and `id`): confidences rounded as predictions' are. */
export function encodeEvent(e: SoundEvent): EventInput {
  return { ...e, peakConfidence: round4(e.peakConfidence), meanConfidence: round4(e.meanConfidence) };
}
