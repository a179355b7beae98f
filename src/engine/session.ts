/**
 * One stream of the engine: the chain from PCM at any rate to typed outputs, and the rule that every
 * event that starts also ends, whatever ends the stream.
 */
import { Observable, type Subscription } from 'rxjs';
import { gatePrediction } from '../events/operators.ts';
import { type EventEndReason, type EventOptions, EventTracker, isQuiet } from '../events/tracker.ts';
import type { RenderQueue } from '../features/render.ts';
import type { BatchQueue, ImageClassifier } from '../model/classifier.ts';
import { type Backlog, type ClassifiedWindow, classifyWindowsOf } from '../stream/operators.ts';
import { resampleTo } from '../stream/resample.ts';
import type { StreamOutput } from './outputs.ts';
import { encodeEvent, encodePrediction } from './wire.ts';

/** Options of one stream. */
export interface StreamOptions {
  /** Rate of the source's samples; the engine resamples them to the model's rate by the feature config's rule. */
  sampleRateHz: number;
  /** When it emits a reason, the stream ends at once: open events end with that reason, then `ended`, then completion. */
  stop?: Observable<EventEndReason>;
  /** Counts windows in flight: pass the Backlog that gates a fast source (a file) so that it waits for the model. */
  backlog?: Backlog;
}

/** What the engine gives a stream. */
export interface StreamHost {
  readonly model: ImageClassifier;
  readonly inference: BatchQueue;
  readonly render: RenderQueue;
}

/** How a stream registers with its engine (for run-time changes of the event settings). */
export interface StreamRegistry {
  /** Registers a starting stream; returns the event settings in force (as given, not resolved). May throw (engine disposed). */
  add(s: StreamSession): EventOptions;
  remove(s: StreamSession): void;
  /** Copies an output to the engine's hub. */
  emit(o: StreamOutput): void;
}

/** A running stream, as its engine sees it. */
export interface StreamSession {
  readonly streamId: string;
  /**
   * Applies new event settings from the next window (see `EventTracker.reconfigure`), and with
   * `classes` a new model's classes (open events of classes it lacks end, reason `model-changed`).
   */
  reconfigure(options: EventOptions, classes?: readonly string[]): void;
}

/** The chain of one stream (see `Engine.stream`). */
export function runStream(
  host: StreamHost,
  source: Observable<Float32Array>,
  streamId: string,
  options: StreamOptions,
  registry: StreamRegistry,
): Observable<StreamOutput> {
  const c = host.model.features;
  return new Observable<StreamOutput>((sub) => {
    let over = false;
    let windows = 0;
    let lastEndMs = 0;
    let tracker: EventTracker | undefined;
    const emit = (o: StreamOutput) => {
      sub.next(o);
      registry.emit(o);
    };
    const emitEvents = (events: ReturnType<EventTracker['push']>) => {
      for (const event of events) emit({ type: 'event', streamId, event, message: encodeEvent(event) });
    };
    const session: StreamSession = {
      streamId,
      reconfigure: (o, classes) => {
        if (!over && tracker) emitEvents(tracker.reconfigure(o, classes));
      },
    };
    /** Ends every open event with `reason`, then the stream. */
    const end = (reason: EventEndReason, error?: unknown) => {
      if (over) return;
      over = true;
      registry.remove(session);
      if (tracker) emitEvents(tracker.finish(reason));
      emit({ type: 'ended', streamId, reason, windows, lastEndMs, ...(error === undefined ? {} : { error }) });
    };
    const onWindow = ({ rendered, prediction }: ClassifiedWindow) => {
      if (over || !tracker) return;
      windows++;
      lastEndMs = prediction.endMs;
      emit({ type: 'window', streamId, rendered });
      const silenceDb = tracker.options.silenceDb;
      const gated = gatePrediction(prediction, silenceDb);
      emit({ type: 'prediction', streamId, prediction: gated, quiet: isQuiet(gated, silenceDb), message: encodePrediction(gated) });
      emitEvents(tracker.push(gated));
    };

    let chain: Subscription | undefined;
    let stopper: Subscription | undefined;
    try {
      tracker = new EventTracker(streamId, host.model.classes, registry.add(session));
    } catch (e) {
      sub.error(e);
      return;
    }
    emit({ type: 'started', streamId, sampleRateHz: options.sampleRateHz });
    stopper = options.stop?.subscribe((reason) => {
      chain?.unsubscribe();
      end(reason);
      sub.complete();
    });
    if (over) return () => stopper?.unsubscribe();
    chain = classifyWindowsOf(source.pipe(resampleTo(options.sampleRateHz, c.sampleRateHz, c.resampler)), {
      streamId,
      queue: host.inference,
      render: host.render,
      ...(options.backlog ? { backlog: options.backlog } : {}),
    }).subscribe({
      next: (w) => {
        try {
          onWindow(w);
        } catch (e) {
          // a bad event order or an invalid message: the stream fails, its events still end
          chain?.unsubscribe();
          end('error', e);
          sub.error(e);
        }
      },
      error: (e: unknown) => {
        end('error', e);
        sub.error(e);
      },
      complete: () => {
        end('stream-ended');
        sub.complete();
      },
    });
    return () => {
      stopper?.unsubscribe();
      chain?.unsubscribe();
      if (!over) {
        over = true;
        registry.remove(session);
      }
    };
  });
}
