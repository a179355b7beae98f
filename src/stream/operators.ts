/**
 * Thin RxJS operators over the pure feature and inference functions, and the pipeline that composes
 * them: PCM chunks at the model's rate → windows (the pad rule at the end) → model-input images
 * (batched through a render queue) → batched inference → predictions.
 */
import { type Observable, type OperatorFunction, concat, concatMap, defer, finalize, from, map, mergeMap, tap } from 'rxjs';
import type { FeatureConfig } from '../config.ts';
import { Framer, type WindowFrames } from '../features/framer.ts';
import { RenderQueue } from '../features/render.ts';
import type { BatchQueue, Classification } from '../model/classifier.ts';
import type { Gate } from './sources.ts';

/** A window with its model-input image. */
export interface RenderedWindow {
  readonly window: WindowFrames;
  /** The model-input image: imageSize² · 3 bytes, HWC. */
  readonly image: Uint8Array;
}

/** What the pipeline says about one window. */
export interface Prediction {
  streamId: string;
  /** Window number within the stream. */
  index: number;
  /** Window start and end, in ms from the start of the stream. */
  startMs: number;
  endMs: number;
  /** Top class, or `unknown` when its probability is under the threshold (or the window is under the level gate). */
  label: string;
  /** Probability of the top class. */
  confidence: number;
  /** Probability per class. */
  scores: Record<string, number>;
  /** RMS level of the window, dBFS. */
  rmsDb: number;
}

/** Defaults of the pipeline's stages. */
export const DEFAULT_PIPELINE = Object.freeze({
  /** Windows being rendered at once per stream (they queue in the shared render queue). */
  renderConcurrency: 64,
  /** Windows being classified at once per stream (they queue in the shared batch queue). */
  classifyConcurrency: 256,
  /** Windows between framing and prediction before a fast source waits. */
  backlogWindows: 256,
});

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

/**
 * PCM chunks (mono, at the config's rate) → complete windows, one Framer per subscription. When the
 * source completes, the pad rule applies (`Framer.finish`): a stream shorter than one window still
 * gives that one window, exactly as a clip of it does.
 */
export const toWindows =
  (c: FeatureConfig): OperatorFunction<Float32Array, WindowFrames> =>
  (source) =>
    defer(() => {
      const framer = new Framer(c);
      return concat(
        source.pipe(concatMap((chunk) => framer.push(chunk))),
        defer(() => framer.finish()),
      );
    });

/** Windows → model-input images, rendered by the one feature path through `render` (batched with other streams' windows; order kept). */
export const toImages = (
  render: RenderQueue,
  concurrency: number = DEFAULT_PIPELINE.renderConcurrency,
): OperatorFunction<WindowFrames, RenderedWindow> =>
  mapOrdered(async (window: WindowFrames) => ({ window, image: await render.image(window) }), concurrency);

/** Builds the prediction of a classified window. */
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

/** A prediction with the image it was made from. */
export interface ClassifiedWindow {
  readonly rendered: RenderedWindow;
  readonly prediction: Prediction;
}

/** Rendered windows → predictions, through the shared batching queue (order kept). */
export const classifyWindows = (
  queue: BatchQueue,
  streamId: string,
  concurrency: number = DEFAULT_PIPELINE.classifyConcurrency,
): OperatorFunction<RenderedWindow, ClassifiedWindow> =>
  mapOrdered(
    async (rendered: RenderedWindow) => ({
      rendered,
      prediction: await queue.classify(rendered.image).then((cls) =>
        // the classes of the model that classified it (a model swapped meanwhile has others)
        toPrediction(streamId, rendered.window, queue.classifier.features, cls, cls.classes),
      ),
    }),
    concurrency,
  );

/** Counts windows between framing and prediction; a fast source waits while too many are in flight. */
export class Backlog implements Gate {
  private inFlight = 0;
  private waiters: (() => void)[] = [];
  constructor(readonly highWater: number = DEFAULT_PIPELINE.backlogWindows) {}
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
  /** The render queue (share one between streams so their windows are resized together). Default: one for this stream. */
  render?: RenderQueue;
  /** Counts windows in flight (pass the same Backlog as the source's gate for back-pressure). */
  backlog?: Backlog;
}

/**
 * The model stage of one stream: PCM chunks (mono, at the model's rate) → windows → images →
 * predictions, one per window hop, each with its image. Unsubscribing stops everything; no tensors
 * outlive a batch.
 */
export function classifyWindowsOf(
  pcm$: Observable<Float32Array>,
  { streamId, queue, render, backlog }: ClassifyStreamOptions,
): Observable<ClassifiedWindow> {
  const c = queue.classifier.features;
  return defer(() => {
    let pending = 0;
    return pcm$.pipe(
      toWindows(c),
      tap(() => {
        pending++;
        backlog?.add();
      }),
      toImages(render ?? new RenderQueue(c)),
      classifyWindows(queue, streamId),
      tap(() => {
        pending--;
        backlog?.done();
      }),
      finalize(() => {
        if (pending) backlog?.done(pending);
      }),
    );
  });
}

/** `classifyWindowsOf`, predictions only. */
export function classifyStream(pcm$: Observable<Float32Array>, options: ClassifyStreamOptions): Observable<Prediction> {
  return classifyWindowsOf(pcm$, options).pipe(map((w) => w.prediction));
}
