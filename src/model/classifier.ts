/**
 * Inference: model-input images (bytes, as the feature path renders them) in, class probabilities
 * out, with the "cannot tell" threshold and a batching queue shared by every stream that uses the
 * model. The one conversion of image bytes to the network's [0, 1] floats is here (`toModelInput`).
 */
import type * as tf from '@tensorflow/tfjs';
import { DEFAULTS, type FeatureConfig, UNKNOWN_LABEL, diffFeatureConfig } from '../config.ts';
import { applyTemperature } from './calibration.ts';
import { type EngineChoice, type InferenceEngine, createInferenceEngine } from './inference.ts';
import { type LoadedModel, heldOutRecallOf } from './io.ts';

/** One classified input. */
export interface Classification {
  /** Top class, or `unknown` when its probability is under the threshold or it is a background class. */
  label: string;
  /** Probability of the top class. */
  confidence: number;
  /** Probability per class, in `classes` order. */
  probabilities: Float32Array;
}

/**
 * What the engine needs of a model: its classes and feature config, and a batch call from
 * model-input images to classifications. `Classifier` is one (its network runs on TensorFlow.js or
 * onnxruntime, ./inference.ts); other implementations take images as bytes too, converting them with
 * `toModelInput`.
 */
export interface ImageClassifier {
  readonly classes: readonly string[];
  /** Classes that never become events (the model's `backgroundClasses`; default none). */
  readonly backgroundClasses: readonly string[];
  /** Event settings of classes learned with `soundee learn` (metadata `customClasses`): the event layer's defaults for them. */
  readonly classEvents?: Readonly<Record<string, { threshold: number; minDurationMs: number }>>;
  /** The feature config the model was trained with: everything it classifies is rendered with it. */
  readonly features: FeatureConfig;
  /** What runs the network (`Classifier`: tfjs or onnx); a model swapped in runs on the same kind. */
  readonly engine?: { readonly name: string };
  readonly name: string;
  readonly architecture: string;
  /** Probability under which a prediction is `unknown`. */
  readonly threshold: number;
  /** Per-class event thresholds the model was calibrated with (the event layer's defaults for those classes). */
  readonly eventThresholds?: Readonly<Record<string, number>>;
  /**
   * Per class, the share of its windows recognised on recordings from packages the model never trained
   * on (metadata `evaluation.crossValidation.recall`, from `soundee cv`): how far to trust it. Absent
   * for a model without a cross-validation and for learned classes.
   */
  readonly heldOutRecall?: Readonly<Record<string, number>>;
  /**
   * Classifies a batch of model-input images (each imageSize² · 3 bytes, HWC, as the feature path
   * renders them).
   * @throws RangeError for an image of the wrong size.
   */
  classify(images: readonly Uint8Array[]): Classification[];
  /** Labels a probability vector per the threshold. */
  label(probabilities: Float32Array): Classification;
  /** Runs one prediction so that the first real window does not pay for set-up. */
  warmUp(): void;
  dispose(): void;
}

/**
 * Image bytes → the network's input: values in [0, 1] (the capstone's /255), written into `out` from
 * `offset` (a batch is one flat array). The one place the feature path's bytes become floats.
 */
export function toModelInput(image: Uint8Array, out: Float32Array = new Float32Array(image.length), offset = 0): Float32Array {
  for (let i = 0; i < image.length; i++) out[offset + i] = image[i]! / 255;
  return out;
}

/**
 * A loaded model ready to classify model-input images: the batch's bytes become one Float32Array
 * (`toModelInput`, the one /255) that its inference engine runs as it is.
 */
export class Classifier implements ImageClassifier {
  readonly classes: readonly string[];
  readonly backgroundClasses: readonly string[];
  readonly classEvents: Readonly<Record<string, { threshold: number; minDurationMs: number }>>;
  readonly features: FeatureConfig;
  readonly name: string;
  readonly architecture: string;
  readonly threshold: number;
  /** Temperature applied to the network's probabilities (metadata `calibration`; 1 = none). */
  readonly temperature: number;
  /** Per-class event thresholds from the model's metadata (the event layer's defaults for those classes). */
  readonly eventThresholds: Readonly<Record<string, number>>;
  readonly heldOutRecall?: Readonly<Record<string, number>>;
  /** What runs the network: tfjs (on a copy with batch norm folded, ./fold.ts) or onnxruntime (./inference.ts). */
  readonly engine: InferenceEngine;
  /** The loaded network; disposed with the classifier. */
  private readonly model: tf.LayersModel;
  private readonly inputLen: number;
  private disposed = false;

  /**
   * @param loaded the model; the classifier owns it from now on (and `engine`, when one is given).
   * @param options.threshold overrides the model's own "cannot tell" threshold.
   * @param options.engine 'tfjs', 'onnx' or an engine; default the process's choice (initBackend).
   * @param options.onWarning hears problems that do not stop inference (batch-norm folding failed on
   *   tfjs). Default: a process warning.
   * @throws SoundeeError from createInferenceEngine when the onnx engine was asked for and cannot run the model.
   */
  constructor(
    loaded: LoadedModel,
    {
      threshold,
      engine,
      onWarning,
    }: { threshold?: number; engine?: EngineChoice | InferenceEngine; onWarning?: (message: string) => void } = {},
  ) {
    this.classes = loaded.metadata.classes;
    this.backgroundClasses = [...(loaded.metadata.backgroundClasses ?? [])];
    this.classEvents = Object.fromEntries((loaded.metadata.customClasses ?? []).map((c) => [c.label, { ...c.events }]));
    this.features = loaded.metadata.features;
    this.name = loaded.metadata.name;
    this.architecture = loaded.metadata.architecture;
    this.threshold = threshold ?? loaded.metadata.confidenceThreshold ?? DEFAULTS.confidenceThreshold;
    this.temperature = loaded.metadata.calibration?.temperature ?? 1;
    this.eventThresholds = { ...loaded.metadata.eventThresholds };
    const recall = heldOutRecallOf(loaded.metadata);
    if (recall) this.heldOutRecall = recall;
    if (!(this.threshold >= 0 && this.threshold <= 1))
      throw new RangeError(`confidence threshold must be in [0, 1], got ${this.threshold}`);
    this.inputLen = this.features.imageSize * this.features.imageSize * 3;
    this.model = loaded.model;
    this.engine =
      typeof engine === 'object'
        ? engine
        : createInferenceEngine(loaded, { ...(engine ? { engine } : {}), ...(onWarning ? { onWarning } : {}) });
  }

  warmUp(): void {
    this.classify([new Uint8Array(this.inputLen)]);
  }

  /** Labels a probability vector: `unknown` under the threshold or when a background class ("none of these") is on top. */
  label(probabilities: Float32Array): Classification {
    let best = 0;
    for (let i = 1; i < probabilities.length; i++) if (probabilities[i]! > probabilities[best]!) best = i;
    const confidence = probabilities[best]!;
    const known = confidence >= this.threshold && !this.backgroundClasses.includes(this.classes[best]!);
    return { label: known ? this.classes[best]! : UNKNOWN_LABEL, confidence, probabilities };
  }

  /**
   * Classifies a batch of images: one Float32Array for the whole batch, filled by `toModelInput` (no
   * other copy), run by the engine (tfjs creates and disposes its tensors inside: the count does not grow).
   */
  classify(images: readonly Uint8Array[]): Classification[] {
    if (this.disposed) throw new Error('Cannot classify: the classifier has been disposed');
    if (images.length === 0) return [];
    const n = images.length;
    const flat = new Float32Array(n * this.inputLen);
    images.forEach((x, i) => {
      if (x.length !== this.inputLen) throw new RangeError(`image ${i} has ${x.length} bytes, expected ${this.inputLen}`);
      toModelInput(x, flat, i * this.inputLen);
    });
    const probs = this.engine.run(flat, n);
    const k = this.classes.length;
    return Array.from({ length: n }, (_, i) => this.label(applyTemperature(probs.subarray(i * k, (i + 1) * k), this.temperature)));
  }

  dispose(): void {
    if (!this.disposed) {
      this.engine.dispose();
      this.model.dispose();
    }
    this.disposed = true;
  }
}

/** A classification from the queue, with the classes of the model that made it (the model may be swapped between batches). */
export interface QueuedClassification extends Classification {
  /** The classes `probabilities` are in the order of. */
  classes: readonly string[];
}

interface Pending {
  image: Uint8Array;
  resolve: (c: QueuedClassification) => void;
  reject: (e: unknown) => void;
}

/**
 * Collects images from any number of streams and classifies them in batches: whatever is queued when
 * the model becomes free goes in one batch (up to maxBatch). A lone real-time stream gets batch 1 and
 * no added latency; a fast replay or many streams get large batches. The model can be replaced
 * between two batches (`swap`): each result names the classes of the model that made it.
 */
export class BatchQueue {
  private queue: Pending[] = [];
  private scheduled = false;
  private current: ImageClassifier;
  /** Batches run so far and their sizes (for status and benchmarks). */
  readonly stats = { batches: 0, items: 0, maxBatchSeen: 0 };

  /** @param maxBatch largest batch. Default `DEFAULTS.inferenceBatch` (64). */
  constructor(
    classifier: ImageClassifier,
    private readonly maxBatch: number = DEFAULTS.inferenceBatch,
  ) {
    if (!(Number.isInteger(maxBatch) && maxBatch >= 1)) throw new RangeError(`maxBatch must be a positive integer, got ${maxBatch}`);
    this.current = classifier;
  }

  /** The model the next batch runs on. */
  get classifier(): ImageClassifier {
    return this.current;
  }

  /**
   * Runs the batches from now on on `classifier` (its feature config must be the same: images in the
   * queue were rendered for the old one). Batches run synchronously, so none is half done: images
   * queued and not yet run go to the new model.
   * @throws RangeError when the feature configs differ.
   */
  swap(classifier: ImageClassifier): void {
    const diff = diffFeatureConfig(this.current.features, classifier.features);
    if (diff.length)
      throw new RangeError(
        `cannot swap in a model with another feature config (${diff.join('; ')}): queued images were rendered for the old one`,
      );
    this.current = classifier;
  }

  /** Queues one image; resolves with its classification. */
  classify(image: Uint8Array): Promise<QueuedClassification> {
    return new Promise((resolve, reject) => {
      this.queue.push({ image, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate lets images that arrive in the same turn join the batch.
        setImmediate(() => this.run());
      }
    });
  }

  /** Images waiting for the model. */
  get pending(): number {
    return this.queue.length;
  }

  private run(): void {
    const batch = this.queue.splice(0, this.maxBatch);
    try {
      const model = this.current;
      const out = model.classify(batch.map((p) => p.image));
      batch.forEach((p, i) => {
        p.resolve({ ...out[i]!, classes: model.classes });
      });
      this.stats.batches++;
      this.stats.items += batch.length;
      this.stats.maxBatchSeen = Math.max(this.stats.maxBatchSeen, batch.length);
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
    if (this.queue.length) setImmediate(() => this.run());
    else this.scheduled = false;
  }
}
