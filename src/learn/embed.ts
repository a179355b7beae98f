/**
 * The trained network split in two: the trunk (model input → the features the final Dense layer reads,
 * e.g. the ResNet's globally pooled 64 values) and the head (that Dense layer: a kernel and a bias per
 * class). Learning a new class keeps the trunk and the K original rows of the head as they are and fits
 * one more row, so the embeddings here are exactly what the extended model computes.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { SoundeeError } from '../config.ts';
import { toModelInput } from '../model/classifier.ts';
import { foldForInference } from '../model/fold.ts';
import type { LoadedModel } from '../model/io.ts';

/** The final Dense layer's weights: `kernel[j * classes + k]` multiplies embedding value j for class k. */
export interface HeadWeights {
  /** Embedding length (the Dense layer's input size). */
  dims: number;
  classes: number;
  /** dims × classes, row-major (tfjs's Dense kernel layout). */
  kernel: Float32Array;
  bias: Float32Array;
}

/** The final layer of `model` when it is a softmax Dense layer (the only kind of head that can be extended). */
export function finalDense(model: tf.LayersModel): tf.layers.Layer {
  const last = model.layers.at(-1);
  const cfg = last?.getConfig() as { activation?: string; useBias?: boolean } | undefined;
  if (last?.getClassName() !== 'Dense' || cfg?.activation !== 'softmax' || cfg.useBias === false)
    throw new SoundeeError(
      'ERR_LEARN_MODEL',
      `the network's last layer is ${last ? `${last.getClassName()} (${cfg?.activation ?? 'no activation'})` : 'missing'}; learning a class needs a final softmax Dense layer with a bias`,
    );
  return last;
}

/** Reads the final Dense layer's kernel and bias. */
export function headWeights(model: tf.LayersModel): HeadWeights {
  const [k, b] = finalDense(model).getWeights();
  const [dims, classes] = k!.shape as [number, number];
  return { dims, classes, kernel: k!.dataSync() as Float32Array, bias: b!.dataSync() as Float32Array };
}

/**
 * A fingerprint of the trunk: SHA-256 over the weights of every layer but the final Dense, in layer
 * order. A bank of negative embeddings is valid for a model only while this stays the same.
 */
export function trunkFingerprint(model: tf.LayersModel): string {
  const head = finalDense(model);
  const h = createHash('sha256');
  for (const layer of model.layers) {
    if (layer === head) continue;
    for (const w of layer.getWeights()) {
      const v = w.dataSync() as Float32Array;
      h.update(layer.name);
      h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
  }
  return h.digest('hex').slice(0, 16);
}

/** Computes embeddings and the original logits of model inputs. */
export class Embedder {
  /** The original classes, in output order. */
  readonly classNames: readonly string[];
  readonly dims: number;
  readonly head: HeadWeights;
  /** Temperature the classifier applies to the logits (metadata `calibration.temperature`; 1 = none). */
  readonly temperature: number;
  private readonly trunk: tf.LayersModel;
  private readonly folded: tf.LayersModel | undefined;
  private readonly size: number;

  /** Embedding values that are the head's own input (the first `headDims`); the rest are extra pooled features. */
  readonly headDims: number;

  /**
   * @param extraFeatures also pool every residual stage's output (average and maximum over time and
   *   frequency) beside the head's input: a richer embedding for a new class (see ./features.ts).
   * @throws SoundeeError ERR_LEARN_MODEL when the network has no softmax Dense head.
   */
  constructor(loaded: LoadedModel, { extraFeatures = false }: { extraFeatures?: boolean } = {}) {
    const model = loaded.model;
    const dense = finalDense(model);
    this.classNames = loaded.metadata.classes;
    this.head = headWeights(model);
    this.headDims = this.head.dims;
    const t = (loaded.metadata as { calibration?: { temperature?: number } }).calibration?.temperature;
    this.temperature = typeof t === 'number' && t > 0 ? t : 1;
    this.size = loaded.metadata.features.imageSize;
    // the folded copy (BN merged into the convolutions) computes the same trunk faster
    const folded = foldForInference(model);
    this.folded = folded === model ? undefined : folded;
    const source = this.folded ?? model;
    const input = source.getLayer(dense.name).input as tf.SymbolicTensor;
    // a model that already reads the extra features has them in its head's input
    const extended = (dense.inboundNodes[0]?.inboundLayers ?? []).some((l) => l.name === EXTRA_FEATURES_LAYER);
    const extras = extraFeatures && !extended ? pooledStages(source, stageOutputs(model)) : [];
    const output = extras.length
      ? (tf.layers.concatenate({ name: EXTRA_FEATURES_LAYER }).apply([input, ...extras]) as tf.SymbolicTensor)
      : input;
    this.trunk = tf.model({ inputs: source.inputs, outputs: output });
    this.dims = output.shape[1]!;
  }

  /**
   * Embeddings of model inputs (bytes, imageSize²·3 HWC, as the render path produces them), n × dims
   * row-major, in batches.
   */
  embed(images: readonly Uint8Array[], batch = 256): Float32Array {
    const px = this.size * this.size * 3;
    const out = new Float32Array(images.length * this.dims);
    for (let s = 0; s < images.length; s += batch) {
      const part = images.slice(s, s + batch);
      const flat = new Float32Array(part.length * px);
      part.forEach((img, i) => {
        if (img.length !== px) throw new RangeError(`input ${s + i} has ${img.length} bytes, expected ${px}`);
        toModelInput(img, flat, i * px);
      });
      const e = tf.tidy(
        () => (this.trunk.predict(tf.tensor4d(flat, [part.length, this.size, this.size, 3])) as tf.Tensor).dataSync() as Float32Array,
      );
      out.set(e, s * this.dims);
    }
    return out;
  }

  /** The original classes' logits of embeddings (n × dims), divided by the temperature. */
  logits(embeddings: Float32Array): Float32Array {
    if (this.dims === this.headDims) return headLogits(this.head, embeddings, this.temperature);
    const n = embeddings.length / this.dims;
    const own = new Float32Array(n * this.headDims);
    for (let i = 0; i < n; i++) own.set(embeddings.subarray(i * this.dims, i * this.dims + this.headDims), i * this.headDims);
    return headLogits(this.head, own, this.temperature);
  }

  dispose(): void {
    // the trunk shares its layers (and weights) with the folded copy or the loaded model
    this.folded?.dispose();
  }
}

/**
 * Names of the layers whose outputs are the residual stages' outputs (a ReLU right after an Add), in
 * order; empty for networks without residual stages.
 */
export function stageOutputs(model: tf.LayersModel): string[] {
  return model.layers
    .filter((l) => {
      const cfg = l.getConfig() as { activation?: string; maxValue?: number | null };
      const relu = l.getClassName() === 'ReLU' ? cfg.maxValue == null : l.getClassName() === 'Activation' && cfg.activation === 'relu';
      const from = l.inboundNodes[0]?.inboundLayers ?? [];
      return relu && from.length === 1 && from[0]!.getClassName() === 'Add' && (l.outputShape as number[]).length === 4;
    })
    .map((l) => l.name);
}

/** Name of the layer that joins the head's input and the extra pooled features. */
export const EXTRA_FEATURES_LAYER = 'learn_features';

/** Average and maximum over time and frequency of each named layer's output (a 4-D feature map), in order. */
export function pooledStages(model: tf.LayersModel, stages: readonly string[]): tf.SymbolicTensor[] {
  return stages.flatMap((stage) => {
    const x = model.getLayer(stage).output as tf.SymbolicTensor;
    return [
      tf.layers.globalAveragePooling2d({ name: `learn_mean_${stage}` }).apply(x) as tf.SymbolicTensor,
      tf.layers.globalMaxPooling2d({ name: `learn_max_${stage}` }).apply(x) as tf.SymbolicTensor,
    ];
  });
}

/** e·W + b for each embedding row, divided by `temperature`. */
export function headLogits(head: HeadWeights, embeddings: Float32Array, temperature = 1): Float32Array {
  const { dims, classes, kernel, bias } = head;
  const n = embeddings.length / dims;
  const out = new Float32Array(n * classes);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < classes; k++) {
      let z = bias[k]!;
      for (let j = 0; j < dims; j++) z += embeddings[i * dims + j]! * kernel[j * classes + k]!;
      out[i * classes + k] = z / temperature;
    }
  return out;
}
