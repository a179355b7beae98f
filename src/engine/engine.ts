/**
 * The engine: Soundee's one face for "listen and tell me what you hear" (as speech-commands'
 * recogniser is). It owns the model, the inference batching queue, the render queue and the event
 * settings; `engine.stream(pcm$, streamId, { sampleRateHz })` runs one stream through the whole
 * chain — the resampling rule, framing with the pad rule, rendering, batched inference, the level
 * gate, the event layer, the wire encoding — and returns its typed outputs. Every front end (listen,
 * replay, serve's ingest, the benchmark's server) uses it; none re-wires the chain.
 *
 *   const engine = await openEngine({ model: 'models/default', events: { threshold: 0.5 } });
 *   engine.stream(pcm$, 'kitchen', { sampleRateHz: 48000 }).subscribe((o) => {
 *     if (o.type === 'event') console.log(o.message);
 *   });
 *
 * Sinks that serve every stream (MQTT, a dashboard) subscribe to `engine.outputs` instead.
 */
import { type Observable, Subject } from 'rxjs';
import { type FeatureConfig, SoundeeError, diffFeatureConfig } from '../config.ts';
import { type ClassEventSettings, type EventOptions, type ResolvedEventOptions, resolveEventOptions } from '../events/tracker.ts';
import { RenderQueue } from '../features/render.ts';
import { type BackendChoice, inferenceThreads, initBackend } from '../model/backend.ts';
import { BatchQueue, Classifier, type ImageClassifier } from '../model/classifier.ts';
import { loadModel } from '../model/io.ts';
import { DEFAULT_MODEL_DIR } from '../paths.ts';
import type { StreamOutput } from './outputs.ts';
import { type StreamOptions, type StreamSession, runStream } from './session.ts';

/** Options of an engine around an open model (see `openEngine` for loading one). */
export interface EngineOptions {
  /**
   * The event layer's settings (smoothing, thresholds per class, minimum duration, cooldown,
   * background classes, the level gate's `silenceDb`); unset fields take `DEFAULT_EVENT_OPTIONS`.
   * Default `backgroundClasses`: the model's own; learned classes (`classEvents`) get their own
   * threshold and minimum duration unless `perClass` names them; other classes without a threshold take
   * the model's own event thresholds (`eventThresholds`) unless a general `threshold` is given.
   */
  events?: EventOptions;
  /** Largest inference batch. Default `DEFAULTS.inferenceBatch` (64). */
  maxBatch?: number;
  /** Dispose the model with the engine. Default true. */
  ownsModel?: boolean;
  /**
   * How models swapped in from a directory (`swapModel(dir)`) are set up: the "cannot tell" threshold
   * override and where warnings go. `openEngine` passes its own `threshold` and `onWarning`.
   */
  swapDefaults?: { threshold?: number; onWarning?: (message: string) => void };
}

/** Options of `Engine.swapModel`. */
export interface SwapOptions {
  /**
   * The event settings for the new model, or a function of it that returns them. Default: the
   * settings in force carried over (`carryEventOptions`): settings of classes the new model lacks are
   * dropped, its new learned classes get their own (metadata `customClasses[].events`).
   */
  events?: EventOptions | ((model: ImageClassifier) => EventOptions);
  /** Overrides the new model's "cannot tell" threshold (a directory only). Default: `swapDefaults.threshold`, else the model's own. */
  threshold?: number;
  /** When `source` is a classifier: the engine disposes it (when it is swapped out, or with the engine). Default true. */
  ownsModel?: boolean;
}

/** What `swapModel` changed (also emitted on `engine.modelChanges`). */
export interface ModelChange {
  /** The model running now. */
  model: ImageClassifier;
  /** The model it replaced (disposed by now when the engine owned it). */
  previous: { name: string; architecture: string; classes: readonly string[] };
  /** Classes the new model has and the old one had not, in the new model's order. */
  added: string[];
  /** Classes of the old model the new one lacks (their open events ended, reason `model-changed`). */
  removed: string[];
}

/** Options of `openEngine`: which model, on which backend, and the engine's own options. */
export interface OpenEngineOptions extends EngineOptions {
  /** Model directory (model.json, weights.bin, metadata.json). Default: the bundled model. */
  model?: string;
  /**
   * Inference engine: onnx (onnxruntime-node), node (tfjs-node), wasm or cpu; auto = the first that
   * loads, in that order. Default env SOUNDEE_BACKEND, else auto. Per process (see initBackend).
   */
  backend?: BackendChoice;
  /**
   * Inference threads of the chosen engine: onnx intra-op threads (default one per core, up to 4) or
   * wasm XNNPACK threads (default 1, at most 8). Default env SOUNDEE_THREADS, else SOUNDEE_WASM_THREADS.
   */
  threads?: number;
  /** XNNPACK threads on the wasm backend when they should differ from `threads`, 1..8. */
  wasmThreads?: number;
  /** Overrides the model's "cannot tell" threshold, in [0, 1]. */
  threshold?: number;
  /** Refuse the model unless it was trained with exactly these features (guards against train/serve skew). */
  expectFeatures?: FeatureConfig;
  /** Hears problems that do not stop inference (e.g. batch-norm folding failed). Default: a process warning. */
  onWarning?: (message: string) => void;
}

/**
 * Initialises the backend (the inference engine the model's network runs on: onnx or a tfjs backend),
 * loads the model (refused when its files or feature config are wrong), warms it up and wraps it in an
 * engine.
 * @throws SoundeeError from loading (ERR_MODEL_*), ERR_EVENT_OPTIONS for bad event settings.
 */
export async function openEngine(o: OpenEngineOptions = {}): Promise<Engine> {
  const threads = o.threads ?? inferenceThreads();
  await initBackend(o.backend, undefined, {
    ...(threads === undefined ? {} : { threads }),
    ...(o.wasmThreads === undefined ? {} : { wasmThreads: o.wasmThreads }),
  });
  const loaded = await loadModel(o.model ?? DEFAULT_MODEL_DIR, o.expectFeatures ? { expectFeatures: o.expectFeatures } : {});
  const classifier = new Classifier(loaded, {
    ...(o.threshold === undefined ? {} : { threshold: o.threshold }),
    ...(o.onWarning ? { onWarning: o.onWarning } : {}),
  });
  try {
    classifier.warmUp();
    const swapDefaults = {
      ...(o.threshold === undefined ? {} : { threshold: o.threshold }),
      ...(o.onWarning ? { onWarning: o.onWarning } : {}),
    };
    return new Engine(classifier, { ...o, swapDefaults });
  } catch (e) {
    classifier.dispose();
    throw e;
  }
}

/** A model with its queues and event settings, running any number of streams. */
export class Engine {
  /** The inference batching queue every stream's windows go through. */
  readonly inference: BatchQueue;
  /** The render queue every stream's windows are resized in (one sharp call per batch). */
  readonly render: RenderQueue;
  private readonly hub = new Subject<StreamOutput>();
  private readonly changes = new Subject<ModelChange>();
  private readonly sessions = new Set<StreamSession>();
  private current: ImageClassifier;
  private options: EventOptions;
  private resolved: ResolvedEventOptions;
  private disposed = false;
  /** Whether the engine disposes the current model. */
  private ownsModel: boolean;
  private readonly swapDefaults: NonNullable<EngineOptions['swapDefaults']>;
  /** Swaps run one after another. */
  private swapping: Promise<unknown> = Promise.resolve();

  /**
   * @throws SoundeeError ERR_EVENT_OPTIONS for event settings the model's classes do not allow.
   */
  constructor(model: ImageClassifier, o: EngineOptions = {}) {
    this.current = model;
    this.options = withModelDefaults(withClassEvents(o.events ?? {}, model), model);
    this.resolved = resolveEventOptions(model.classes, this.options);
    this.inference = new BatchQueue(model, o.maxBatch);
    this.render = new RenderQueue(model.features);
    this.ownsModel = o.ownsModel ?? true;
    this.swapDefaults = o.swapDefaults ?? {};
  }

  /** The model every stream shares (another one after `swapModel`). */
  get model(): ImageClassifier {
    return this.current;
  }

  /** The model's feature config: what every stream is rendered with. */
  get features(): FeatureConfig {
    return this.model.features;
  }

  get classes(): readonly string[] {
    return this.model.classes;
  }

  /** The event settings in force, as given (see `eventSettings` for every value resolved). */
  get eventOptions(): EventOptions {
    return this.options;
  }

  /** The event settings in force, resolved per class (thresholds, durations, the level gate's silenceDb). */
  get eventSettings(): ResolvedEventOptions {
    return this.resolved;
  }

  /**
   * Every output of every stream, as each stream emits it (hot: a sink sees what happens after it
   * subscribes). For sinks that serve all streams, such as MQTT or a dashboard. A sink must not throw.
   */
  get outputs(): Observable<StreamOutput> {
    return this.hub.asObservable();
  }

  /** Every model change (`swapModel`), after the streams have taken it (hot). */
  get modelChanges(): Observable<ModelChange> {
    return this.changes.asObservable();
  }

  /** Ids of the streams running now. */
  get streamIds(): string[] {
    return [...this.sessions].map((s) => s.streamId);
  }

  /**
   * Replaces the event settings, for new streams and for running ones from their next window (see
   * `EventTracker.reconfigure`): thresholds, durations, smoothing and the level gate change in place;
   * a class that becomes a background class (disabled) has its open event ended now, with reason
   * `disabled`, on its stream's outputs. Unset `backgroundClasses` means the model's own. (For switches
   * shared with other front ends — enable, disable, snooze, per-class thresholds — an `EventControl` in the
   * options, as MQTT `set` commands use, does the same without replacing the options.)
   * @throws SoundeeError ERR_EVENT_OPTIONS for bad settings; nothing changes then.
   */
  setEventOptions(options: EventOptions): void {
    const next = withModelDefaults(options, this.model);
    const resolved = resolveEventOptions(this.model.classes, next);
    this.options = next;
    this.resolved = resolved;
    for (const s of this.sessions) s.reconfigure(next);
  }

  /**
   * Runs one stream: PCM chunks (mono Float32 in [-1, 1], at `options.sampleRateHz`, any rate) →
   * the stream's outputs, in order: `started`, then per window its `window` (rendered image) and its
   * `prediction` (level-gated, encoded for the wire) followed by the `event`s it completes, and last
   * `ended`. Cold: each subscription runs the chain once.
   *
   * Every event that starts also ends: when the source completes (reason `stream-ended`), fails
   * (`error`: the ends and `ended` are emitted, then the error) or `options.stop` emits a reason (the
   * source is cut at once, windows not yet classified are dropped), each open event gets its `end`
   * with that reason before `ended`. Unsubscribing abandons the stream without any of these.
   * @throws (through the Observable) SoundeeError ERR_ENGINE_DISPOSED after `dispose()`.
   */
  stream(source: Observable<Float32Array>, streamId: string, options: StreamOptions): Observable<StreamOutput> {
    return runStream(this, source, streamId, options, {
      add: (s) => {
        if (this.disposed) throw new SoundeeError('ERR_ENGINE_DISPOSED', `cannot start stream ${streamId}: the engine has been disposed`);
        this.sessions.add(s);
        return this.options;
      },
      remove: (s) => this.sessions.delete(s),
      emit: (o) => this.hub.next(o),
    });
  }

  /**
   * Replaces the model while streams run, without stopping them: `source` is a model directory
   * (loaded, on the same inference engine kind as the running model — onnx or tfjs — and warmed up)
   * or a classifier. Its feature config must equal the running model's (every stream's framing and
   * rendering stay as they are). Between two inference batches the queue switches to it; windows
   * already classified keep the old model's classes. Every running stream takes the new classes and
   * event settings from its next window: open events of classes the new model lacks end now (reason
   * `model-changed`, on the stream's outputs); new classes start idle. Then the old model is disposed
   * (when the engine owns it) and the change is emitted on `modelChanges`. Swaps run one at a time.
   * @throws SoundeeError ERR_MODEL_MISMATCH (other feature settings), ERR_EVENT_OPTIONS (event settings
   *   the new classes do not allow), ERR_ENGINE_DISPOSED, the loader's errors; nothing changes then.
   */
  swapModel(source: string | ImageClassifier, o: SwapOptions = {}): Promise<ModelChange> {
    const run = this.swapping.then(() => this.swapNow(source, o));
    this.swapping = run.catch(() => {});
    return run;
  }

  private async swapNow(source: string | ImageClassifier, o: SwapOptions): Promise<ModelChange> {
    const disposedError = () => new SoundeeError('ERR_ENGINE_DISPOSED', 'cannot swap the model: the engine has been disposed');
    if (this.disposed) throw disposedError();
    const loaded = typeof source === 'string';
    const next = loaded ? await this.load(source, o) : source;
    let options: EventOptions;
    let resolved: ResolvedEventOptions;
    try {
      if (this.disposed) throw disposedError();
      const diff = diffFeatureConfig(this.features, next.features);
      if (diff.length)
        throw new SoundeeError(
          'ERR_MODEL_MISMATCH',
          `the new model ${next.name} was trained with other feature settings than the running one (running ≠ new): ${diff.join('; ')}; a running server can only switch to a model with the same features`,
        );
      const asked = typeof o.events === 'function' ? o.events(next) : (o.events ?? carryEventOptions(this.options, this.current, next));
      options = withModelDefaults(asked, next);
      resolved = resolveEventOptions(next.classes, options);
    } catch (e) {
      if (loaded) next.dispose();
      throw e;
    }
    const previous = this.current;
    const ownedPrevious = this.ownsModel;
    this.inference.swap(next);
    this.current = next;
    this.ownsModel = loaded || (o.ownsModel ?? true);
    this.options = options;
    this.resolved = resolved;
    for (const s of this.sessions) s.reconfigure(options, next.classes);
    if (ownedPrevious && previous !== next) previous.dispose();
    const change: ModelChange = {
      model: next,
      previous: { name: previous.name, architecture: previous.architecture, classes: previous.classes },
      added: next.classes.filter((c) => !previous.classes.includes(c)),
      removed: previous.classes.filter((c) => !next.classes.includes(c)),
    };
    this.changes.next(change);
    return change;
  }

  /** Loads a model directory for `swapModel`: the running feature config required, the running inference engine kind. */
  private async load(dir: string, o: SwapOptions): Promise<Classifier> {
    const loaded = await loadModel(dir, { expectFeatures: this.features });
    const threshold = o.threshold ?? this.swapDefaults.threshold;
    const kind = this.current.engine === undefined ? undefined : this.current.engine.name === 'onnx' ? 'onnx' : 'tfjs';
    let classifier: Classifier;
    try {
      classifier = new Classifier(loaded, {
        ...(threshold === undefined ? {} : { threshold }),
        ...(kind ? { engine: kind } : {}),
        ...(this.swapDefaults.onWarning ? { onWarning: this.swapDefaults.onWarning } : {}),
      });
    } catch (e) {
      loaded.model.dispose();
      throw e;
    }
    try {
      classifier.warmUp();
    } catch (e) {
      classifier.dispose();
      throw e;
    }
    return classifier;
  }

  /** Disposes the model (when the engine owns it) and ends the `outputs` hub; running streams should be stopped first. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.hub.complete();
    this.changes.complete();
    if (this.ownsModel) this.current.dispose();
  }
}

/**
 * The event settings in force, carried over to a new model: per-class settings of classes it lacks
 * are dropped; classes it adds that were learned (`classEvents`: metadata `customClasses[].events`)
 * get their own threshold and minimum duration, under any per-class settings already given for them;
 * background classes are the old ones it still has, plus its own new ones.
 */
export function carryEventOptions(options: EventOptions, from: ImageClassifier, to: ImageClassifier): EventOptions {
  const has = new Set(to.classes);
  const perClass: Record<string, Partial<ClassEventSettings>> = {};
  for (const [k, v] of Object.entries(options.perClass ?? {})) if (has.has(k)) perClass[k] = v;
  for (const [k, v] of Object.entries(to.classEvents ?? {}))
    if (!from.classes.includes(k) && has.has(k)) perClass[k] = { ...v, ...perClass[k] };
  const background = [
    ...(options.backgroundClasses ?? from.backgroundClasses).filter((c) => has.has(c)),
    ...to.backgroundClasses.filter((c) => !from.backgroundClasses.includes(c)),
  ];
  return { ...options, perClass, backgroundClasses: [...new Set(background)] };
}

/** The learned classes' own event settings (`classEvents`), under the per-class settings the options give. */
function withClassEvents(options: EventOptions, model: ImageClassifier): EventOptions {
  if (!model.classEvents || !Object.keys(model.classEvents).length) return options;
  const perClass: Record<string, Partial<ClassEventSettings>> = { ...options.perClass };
  for (const [k, v] of Object.entries(model.classEvents)) perClass[k] = { ...v, ...perClass[k] };
  return { ...options, perClass };
}

/**
 * The model's defaults under the options: its background classes unless the options name their own,
 * and its per-class event thresholds (fitted on held-out packages) for the classes the options leave
 * unset, unless the options give one general threshold (which replaces them all).
 */
function withModelDefaults(options: EventOptions, model: ImageClassifier): EventOptions {
  let o = options.backgroundClasses === undefined ? { ...options, backgroundClasses: [...model.backgroundClasses] } : options;
  const own = model.eventThresholds ?? {};
  if (o.threshold === undefined && Object.keys(own).length) {
    const perClass = { ...o.perClass };
    for (const [c, t] of Object.entries(own)) if (perClass[c]?.threshold === undefined) perClass[c] = { ...perClass[c], threshold: t };
    o = { ...o, perClass };
  }
  return o;
}
