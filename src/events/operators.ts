/**
 * Thin RxJS shells over the event layer: the level gate on prediction labels, and event detection
 * (one `EventTracker` per stream id, closed when the source completes).
 */
import { type OperatorFunction, concat, concatMap, defer, map } from 'rxjs';
import { UNKNOWN_LABEL } from '../config.ts';
import {
  DEFAULT_EVENT_OPTIONS,
  type EventOptions,
  EventTracker,
  type ScoredWindow,
  type SoundEvent,
  isQuiet,
  resolveEventOptions,
} from './tracker.ts';

/** What the level gate reads and writes of a prediction (a pipeline `Prediction` fits). */
export interface GatedWindow {
  label: string;
  /** RMS level of the window, dBFS. */
  rmsDb: number;
}

/**
 * Level gate on a prediction's label: a window quieter than `silenceDb` dBFS is labelled `unknown`
 * whatever the model said (its per-window normalised image carries no information). Scores are kept as
 * the model gave them; the event layer applies the same gate to them.
 * @returns `p` itself when loud enough, else a copy with `label: 'unknown'`.
 */
export function gatePrediction<P extends GatedWindow>(p: P, silenceDb: number = DEFAULT_EVENT_OPTIONS.silenceDb): P {
  return isQuiet(p, silenceDb) && p.label !== UNKNOWN_LABEL ? { ...p, label: UNKNOWN_LABEL } : p;
}

/** `gatePrediction` as an operator. */
export const gateQuietWindows = <P extends GatedWindow>(silenceDb: number = DEFAULT_EVENT_OPTIONS.silenceDb): OperatorFunction<P, P> =>
  map((p: P) => gatePrediction(p, silenceDb));

/**
 * Predictions → sound events, per stream id. When the source completes, every open event gets its
 * `end` (reason `stream-ended`); errors pass through as they are.
 * @param classes the model's classes.
 * @throws (synchronously) SoundeeError ERR_EVENT_OPTIONS for bad options, before anything is subscribed.
 */
export function detectEvents(classes: readonly string[], options: EventOptions = {}): OperatorFunction<ScoredWindow, SoundEvent> {
  resolveEventOptions(classes, options); // fail at pipeline construction, not at the first window
  return (source) =>
    defer(() => {
      const trackers = new Map<string, EventTracker>();
      const tracker = (id: string) => {
        let t = trackers.get(id);
        if (!t) trackers.set(id, (t = new EventTracker(id, classes, options)));
        return t;
      };
      return concat(
        source.pipe(concatMap((w) => tracker(w.streamId).push(w))),
        defer(() => [...trackers.values()].flatMap((t) => t.finish())),
      );
    });
}
