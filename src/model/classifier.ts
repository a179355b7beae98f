/**
 * Inference: model input images in, class probabilities out, with the "cannot tell" threshold and a
 * batching queue shared by every stream that uses the model.
 */
import type * as tf from '@tensorflow/tfjs';
import { type FeatureConfig, UNKNOWN_LABEL } from '../config.ts';
import { type EngineChoice, type InferenceEngine, createInferenceEngine } from './inference.ts';
import type { LoadedModel } from './io.ts';

/** One classified input. */
export interface Classification {
  /** Top class, or `unknown` when its probability is under the threshold. */
  label: string;
  /** Probability of the top class. */
  confidence: number;
  /** Probability per class, in `classes` order. */
  probabilities: Float32Array;
}

/** A loaded model ready to classify model-input images. */
export class Classifier {
  readonly classes: readonly string[];
  /** Classes that never become events (the model's `backgroundClasses` in metadata.json; default none). */
  readonly backgroundClasses: readonly string[];
  readonly features: FeatureConfig;
  readonly name: string;
  readonly architecture: string;
  readonly threshold: number;
  /** What runs the network: tfjs (on a copy with batch norm folded, ./fold.ts) or onnxruntime (./inference.ts). */
  readonly engine: InferenceEngine;
  /** The loaded network; disposed with the classifier. */
  private readonly model: tf.LayersModel;
  private readonly inputLen: number;
  private disposed = false;

  /**
   * @param loaded the model; the classifier owns it from now on (and `engine`, when one is given).
   * @param options.engine 'tfjs', 'onnx' or an engine; default the process's choice (initBackend).
   * @throws SoundeeError from createInferenceEngine when the onnx engine was asked for and cannot run the model.
   */
  constructor(loaded: LoadedModel, { threshold, engine }: { threshold?: number; engine?: EngineChoice | InferenceEngine } = {}) {
    this.classes = loaded.metadata.classes;
    this.backgroundClasses = [...(loaded.metadata.backgroundClasses ?? [])];
    this.features = loaded.metadata.features;
    this.name = loaded.metadata.name;
    this.architecture = loaded.metadata.architecture;
    this.threshold = threshold ?? loaded.metadata.confidenceThreshold;
    if (!(this.threshold >= 0 && this.threshold <= 1))
      throw new RangeError(`confidence threshold must be in [0, 1], got ${this.threshold}`);
    this.inputLen = this.features.imageSize * this.features.imageSize * 3;
    this.model = loaded.model;
    this.engine = typeof engine === 'object' ? engine : createInferenceEngine(loaded, engine ? { engine } : {});
  }

  /** Runs one prediction so that the first real window does not pay for kernel set-up. */
  warmUp(): void {
    this.classify([new Float32Array(this.inputLen)]);
  }

  /** Labels a probability vector per the threshold. */
  label(probabilities: Float32Array): Classification {
    let best = 0;
    for (let i = 1; i < probabilities.length; i++) if (probabilities[i]! > probabilities[best]!) best = i;
    const confidence = probabilities[best]!;
    return { label: confidence >= this.threshold ? this.classes[best]! : UNKNOWN_LABEL, confidence, probabilities };
  }

  /**
   * Classifies a batch of model inputs (each imageSize²·3 floats in [0, 1], HWC).
   * Tensors are created and disposed inside; the tensor count does not grow.
   */
  classify(inputs: readonly Float32Array[]): Classification[] {
    if (this.disposed) throw new Error('Cannot classify: the classifier has been disposed');
    if (inputs.length === 0) return [];
    const n = inputs.length;
    const flat = new Float32Array(n * this.inputLen);
    inputs.forEach((x, i) => {
      if (x.length !== this.inputLen) throw new RangeError(`input ${i} has ${x.length} values, expected ${this.inputLen}`);
      flat.set(x, i * this.inputLen);
    });
    const probs = this.engine.run(flat, n);
    const k = this.classes.length;
    return Array.from({ length: n }, (_, i) => this.label(probs.slice(i * k, (i + 1) * k)));
  }

  dispose(): void {
    if (!this.disposed) {
      this.engine.dispose();
      this.model.dispose();
    }
    this.disposed = true;
  }
}

interface Pending {
  input: Float32Array;
  resolve: (c: Classification) => void;
  reject: (e: unknown) => void;
}

/**
 * Collects inputs from any number of streams and classifies them in batches: whatever is queued when
 * the model becomes free goes in one batch (up to maxBatch). A lone real-time stream gets batch 1 and
 * no added latency; a fast replay or many streams get large batches.
 */
export class BatchQueue {
  private queue: Pending[] = [];
  private scheduled = false;
  /** Batches run so far and their sizes (for status and benchmarks). */
  readonly stats = { batches: 0, items: 0, maxBatchSeen: 0 };

  constructor(
    readonly classifier: Classifier,
    private readonly maxBatch = 64,
  ) {}

  /** Queues one input; resolves with its classification. */
  classify(input: Float32Array): Promise<Classification> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate lets inputs that arrive in the same turn join the batch.
        setImmediate(() => this.run());
      }
    });
  }

  /** Inputs waiting for the model. */
  get pending(): number {
    return this.queue.length;
  }

  private run(): void {
    const batch = this.queue.splice(0, this.maxBatch);
    try {
      const out = this.classifier.classify(batch.map((p) => p.input));
      batch.forEach((p, i) => {
        p.resolve(out[i]!);
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
