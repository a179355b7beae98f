/**
 * Thin RxJS operators over the pure feature and inference functions, and the pipeline that composes
 * them: PCM chunks → windows → model inputs → batched inference → predictions.
 */
import { type Observable, type OperatorFunction, concatMap, defer, finalize, from, map, mergeMap, tap } from 'rxjs';
import type { FeatureConfig } from '../config.ts';
import { Framer, type WindowFrames } from '../features/framer.ts';
import { RenderQueue } from '../features/render.ts';
import type { BatchQueue, Classification } from '../model/classifier.ts';
import type { Gate } from './sources.ts';

/** A window with its model input. */
export interface RenderedWindow {
  readonly window: WindowFrames;
  /** imageSize² · 3 floats in [0, 1], HWC. */
  readonly input: Float32Array;
}

/** What the pipeline says about one window. */
export interface Prediction {
  streamId: string;
  /** Window number within the stream. */
  index: number;
  /** Window start and end, in ms from the start of the stream. */
  startMs: number;
  endMs: number;
  /** Top class, or `unknown` when its probability is under the threshold. */
  label: string;
  /** Probability of the top class. */
  confidence: number;
  /** Probability per class. */
  scores: Record<string, number>;
  /** RMS level of the window, dBFS. */
  rmsDb: number;
}

/**
 * Maps each value through an async function with up to `concurrency` calls in flight, emitting results
 * in input order.
 */
export function mapOrdered<T, R>(fn: (x: T) => Promise<R>, concurrency: number): OperatorFunction<T, R> {
  return (source) =>
    defer(() => {
      const done = new Map<number, R>();
      let next = 0;
      return source.pipe(
        mergeMap((x, i) => from(fn(x)).pipe(map((r) => [i, r] as const)), concurrency),
        concatMap(([i, r]) => {
          done.set(i, r);
          const out: R[] = [];
          while (done.has(next)) {
            out.push(done.get(next)!);
            done.delete(next++);
          }
          return out;
        }),
      );
    });
}

/** PCM chunks → complete windows (one Framer per subscription). */
export const toWindows =
  (c: FeatureConfig): OperatorFunction<Float32Array, WindowFrames> =>
  (source) =>
    defer(() => {
      const framer = new Framer(c);
      return source.pipe(concatMap((chunk) => framer.push(chunk)));
    });

/** Render queues shared by every stream of a feature config, so that concurrent windows are resized together. */
const renderQueues = new WeakMap<FeatureConfig, RenderQueue>();
/** The shared render queue of a (resolved, frozen) feature config. */
export function renderQueueFor(c: FeatureConfig): RenderQueue {
  let q = renderQueues.get(c);
  if (!q) renderQueues.set(c, (q = new RenderQueue(c)));
  return q;
}

/** Windows → model inputs, rendered by the one feature path (batched through the shared render queue, order kept). */
export const toModelInputs = (c: FeatureConfig, concurrency = 64): OperatorFunction<WindowFrames, RenderedWindow> =>
  mapOrdered(async (window: WindowFrames) => ({ window, input: await renderQueueFor(c).features(window) }), concurrency);

/** Builds the prediction message of a classified window. */
export function toPrediction(
  streamId: string,
  w: WindowFrames,
  c: FeatureConfig,
  cls: Classification,
  classes: readonly string[],
): Prediction {
  const scores: Record<string, number> = {};
  classes.forEach((name, i) => {
    scores[name] = cls.probabilities[i]!;
  });
  const startMs = (w.startSample / c.sampleRateHz) * 1000;
  return {
    streamId,
    index: w.index,
    startMs,
    endMs: startMs + c.windowMillis,
    label: cls.label,
    confidence: cls.confidence,
    scores,
    rmsDb: w.rmsDb,
  };
}

/** Model inputs → predictions, through the shared batching queue (order kept). */
export const classifyWindows = (
  queue: BatchQueue,
  streamId: string,
  c: FeatureConfig,
  concurrency = 256,
): OperatorFunction<RenderedWindow, Prediction> =>
  mapOrdered(
    async (r: RenderedWindow) => toPrediction(streamId, r.window, c, await queue.classify(r.input), queue.classifier.classes),
    concurrency,
  );

/** Counts windows between framing and prediction; a fast source waits while too many are in flight. */
export class Backlog implements Gate {
  private inFlight = 0;
  private waiters: (() => void)[] = [];
  constructor(private readonly highWater = 256) {}
  add(n = 1): void {
    this.inFlight += n;
  }
  done(n = 1): void {
    this.inFlight -= n;
    if (this.inFlight < this.highWater) for (const w of this.waiters.splice(0)) w();
  }
  ready(): Promise<void> {
    return this.inFlight < this.highWater ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
  get size(): number {
    return this.inFlight;
  }
}

export interface ClassifyStreamOptions {
  streamId: string;
  queue: BatchQueue;
  /** Counts windows in flight (pass the same Backlog as the source's gate for back-pressure). */
  backlog?: Backlog;
  /** Called with every rendered window (e.g. for the dashboard's model-input view). */
  onRendered?: (r: RenderedWindow) => void;
}

/**
 * The whole pipeline for one stream: PCM chunks (mono, model rate) → predictions, one per window hop.
 * Unsubscribing stops everything; no tensors outlive a batch.
 */
export function classifyStream(
  pcm$: Observable<Float32Array>,
  { streamId, queue, backlog, onRendered }: ClassifyStreamOptions,
): Observable<Prediction> {
  const c = queue.classifier.features;
  let pending = 0;
  return pcm$.pipe(
    toWindows(c),
    tap(() => {
      pending++;
      backlog?.add();
    }),
    toModelInputs(c),
    tap((r) => onRendered?.(r)),
    classifyWindows(queue, streamId, c),
    tap(() => {
      pending--;
      backlog?.done();
    }),
    finalize(() => {
      if (pending) backlog?.done(pending);
    }),
  );
}
