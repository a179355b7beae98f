/** What a stream of the engine produces, in order: typed outputs that every sink (printer, server, MQTT…) reads. */
import type { EventEndReason, SoundEvent } from '../events/tracker.ts';
import type { EventInput, PredictionMessage } from '../protocol/index.ts';
import type { Prediction, RenderedWindow } from '../stream/operators.ts';

/** The stream began (its source was subscribed). */
export interface StreamStartedOutput {
  type: 'started';
  streamId: string;
  /** Rate of the source's samples (resampled to the model's by the engine). */
  sampleRateHz: number;
}

/** A window was rendered: its spectrogram and model-input image (the dashboard's view). Comes before its prediction. */
export interface WindowOutput {
  type: 'window';
  streamId: string;
  rendered: RenderedWindow;
}

/** A window's prediction, after the level gate. */
export interface PredictionOutput {
  type: 'prediction';
  streamId: string;
  /** The prediction, its label `unknown` when the window is under the level gate. */
  prediction: Prediction;
  /** Whether the window is under the level gate (quieter than `silenceDb`: nothing heard). */
  quiet: boolean;
  /** The prediction as sent on the wire and printed with --json (encoded once, by `encodePrediction`). */
  message: PredictionMessage;
}

/** A sound event's start or end. */
export interface EventOutput {
  type: 'event';
  streamId: string;
  event: SoundEvent;
  /** The event as published (encoded once, by `encodeEvent`); a server adds its id. */
  message: EventInput;
}

/** The stream is over: every open event has had its `end` (with this reason). Always the last output. */
export interface StreamEndedOutput {
  type: 'ended';
  streamId: string;
  reason: EventEndReason;
  /** Windows classified. */
  windows: number;
  /** End of the last window, ms from the start of the stream (0 without windows). */
  lastEndMs: number;
  /** With reason 'error': what failed (the Observable errors with it right after). */
  error?: unknown;
}

export type StreamOutput = StreamStartedOutput | WindowOutput | PredictionOutput | EventOutput | StreamEndedOutput;
