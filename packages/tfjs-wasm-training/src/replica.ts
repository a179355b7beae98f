/**
 * One replica of a data-parallel training step, shared by the main thread and the helper workers
 * (see data-parallel.ts). All weights live in one flat float32 vector — trainable weights, then
 * non-trainable ones (batch-norm moving statistics) — mirrored in a SharedArrayBuffer. A step:
 *
 *   1. {@link Replica.loadWeights}: copy the shared weights into this replica's model;
 *   2. {@link Replica.computeGradients}: gradients of Σ(loss over this replica's shard) / (whole
 *      batch size) into this replica's gradient slot, then the non-trainable weights as this
 *      replica's forward pass left them;
 *   3. {@link Replica.update}, after every replica finished 2: for this replica's share of the flat
 *      vector (1/replicas of it), sum the slots and apply Adam to trainable weights, or average the
 *      slots for non-trainable ones, writing the result to the shared weights.
 *
 * The optimizer is sharded (each replica keeps Adam's moments for its share only), so the update
 * work is split instead of repeated, and all replicas read the same new weights. Adam is one fused
 * JS pass per element — the same arithmetic as `tf.train.adam`, without its dozen tensor passes.
 */
import * as tf from '@tensorflow/tfjs';

/** Adam hyper-parameters; defaults as `tf.train.adam` (epsilon: the backend's, 1e-7 for float32). */
export interface AdamConfig {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

/** Loss and correct-prediction count of one shard. */
export interface ShardResult {
  /** Σ of the per-example categorical cross-entropy over the shard. */
  lossSum: number;
  /** Examples whose arg-max prediction equals the arg-max target. */
  correct: number;
}

/** The SharedArrayBuffers of one trainer. */
export interface SharedBuffers {
  /** replicas × flatLength float32s: one gradient slot per replica. */
  grads: SharedArrayBuffer;
  /** flatLength float32s: the current weights. */
  weights: SharedArrayBuffer;
}

function variablesOf(model: tf.LayersModel): { trainable: tf.Variable[]; nonTrainable: tf.Variable[] } {
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const nonTrainable = model.nonTrainableWeights.map((w) => w.read() as tf.Variable);
  for (const v of [...trainable, ...nonTrainable]) {
    if (v.dtype !== 'float32') throw new Error(`data-parallel training supports float32 weights only; ${v.name} is ${v.dtype}`);
  }
  return { trainable, nonTrainable };
}

/** Floats in the flat weight vector of `model`. */
export function flatLength(model: tf.LayersModel): number {
  const { trainable, nonTrainable } = variablesOf(model);
  return [...trainable, ...nonTrainable].reduce((n, v) => n + v.size, 0);
}

/** Allocates the shared buffers for `replicas` copies of `model`, holding its current weights. */
export function allocateShared(model: tf.LayersModel, replicas: number): SharedBuffers {
  const len = flatLength(model);
  const shared = { grads: new SharedArrayBuffer(replicas * len * 4), weights: new SharedArrayBuffer(len * 4) };
  storeWeights(model, new Float32Array(shared.weights));
  return shared;
}

/** Copies `model`'s weights into the flat vector `out`. */
export function storeWeights(model: tf.LayersModel, out: Float32Array): void {
  const { trainable, nonTrainable } = variablesOf(model);
  let offset = 0;
  for (const v of [...trainable, ...nonTrainable]) {
    out.set(v.dataSync() as Float32Array, offset);
    offset += v.size;
  }
}

export class Replica {
  private readonly variables: tf.Variable[];
  private readonly trainableLength: number;
  private readonly grads: Float32Array;
  private readonly weights: Float32Array;
  private readonly len: number;
  /** This replica's share [from, to) of the flat vector, and Adam's moments for it. */
  private readonly from: number;
  private readonly to: number;
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private accBeta1: number;
  private accBeta2: number;
  private scratch = new Float32Array(0);

  /**
   * @param model this replica's copy of the network.
   * @param index this replica's number, 0..replicas-1.
   * @param replicas number of replicas.
   * @param shared buffers from {@link allocateShared}, the same for all replicas.
   */
  constructor(
    readonly model: tf.LayersModel,
    readonly index: number,
    readonly replicas: number,
    shared: SharedBuffers,
    adam: AdamConfig,
  ) {
    const { trainable, nonTrainable } = variablesOf(model);
    this.variables = [...trainable, ...nonTrainable];
    this.trainableLength = trainable.reduce((n, v) => n + v.size, 0);
    this.len = flatLength(model);
    this.grads = new Float32Array(shared.grads);
    this.weights = new Float32Array(shared.weights);
    if (this.grads.length !== replicas * this.len || this.weights.length !== this.len) {
      throw new Error(
        `shared buffers hold ${this.grads.length} and ${this.weights.length} floats, expected ${replicas * this.len} and ${this.len}`,
      );
    }
    this.from = Math.floor((index * this.len) / replicas);
    this.to = Math.floor(((index + 1) * this.len) / replicas);
    this.m = new Float32Array(Math.max(0, Math.min(this.to, this.trainableLength) - this.from));
    this.v = new Float32Array(this.m.length);
    this.beta1 = adam.beta1 ?? 0.9;
    this.beta2 = adam.beta2 ?? 0.999;
    this.epsilon = adam.epsilon ?? tf.backend().epsilon();
    this.accBeta1 = this.beta1;
    this.accBeta2 = this.beta2;
  }

  /** Sets this replica's model to the shared weights. */
  loadWeights(): void {
    let offset = 0;
    tf.tidy(() => {
      for (const v of this.variables) {
        v.assign(tf.tensor(this.weights.subarray(offset, offset + v.size), v.shape, 'float32'));
        offset += v.size;
      }
    });
  }

  /**
   * Forward and backward pass on this replica's shard (which may be empty); writes the gradients
   * scaled by 1 / batchSize, then the non-trainable weights, into this replica's slot.
   * @param xs shard inputs, or null for an empty shard.
   * @param ys shard targets (probabilities or one-hot), or null for an empty shard.
   * @param batchSize examples in the whole batch across all replicas (> 0).
   */
  computeGradients(xs: tf.Tensor | null, ys: tf.Tensor | null, batchSize: number): ShardResult {
    const out = this.grads.subarray(this.index * this.len, (this.index + 1) * this.len);
    let result: ShardResult = { lossSum: 0, correct: 0 };
    const trainable = this.variables.slice(0, this.variables.length - this.model.nonTrainableWeights.length);
    let offset = 0;
    if (xs === null || ys === null || xs.shape[0] === 0) {
      out.fill(0, 0, this.trainableLength);
      offset = this.trainableLength;
    } else {
      let pred: tf.Tensor | null = null;
      const { value, grads } = tf.variableGrads(() => {
        const p = this.model.apply(xs, { training: true }) as tf.Tensor;
        pred = tf.keep(p);
        // Same loss as LayersModel.compile({loss: 'categoricalCrossentropy'}), scaled so that the
        // replicas' gradients add up to the gradient of the whole batch's mean loss.
        return tf.div(tf.sum(tf.metrics.categoricalCrossentropy(ys, p)), batchSize) as tf.Scalar;
      }, trainable);
      const p = pred as unknown as tf.Tensor;
      const correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(ys, -1), tf.argMax(p, -1)), 'float32')));
      result = { lossSum: (value.dataSync()[0] as number) * batchSize, correct: correct.dataSync()[0] as number };
      for (const v of trainable) {
        const g = grads[v.name];
        if (g === undefined) out.fill(0, offset, offset + v.size);
        else out.set(g.dataSync() as Float32Array, offset);
        offset += v.size;
      }
      tf.dispose([value, correct, p, ...Object.values(grads)]);
    }
    for (const v of this.variables.slice(trainable.length)) {
      out.set(v.dataSync() as Float32Array, offset);
      offset += v.size;
    }
    return result;
  }

  /**
   * Updates this replica's share of the shared weights from all replicas' slots: one Adam step with
   * `learningRate` for trainable weights, the mean for non-trainable ones. Call once per step on
   * every replica, after all of them finished {@link computeGradients}.
   */
  update(learningRate: number): void {
    const { grads, weights, len, m, v, beta1, beta2, epsilon } = this;
    const r = this.replicas;
    const trainEnd = Math.min(this.to, this.trainableLength);
    // w -= lr · m̂ / (√v̂ + ε) with m̂ = m / (1 - β1ᵗ), v̂ = v / (1 - β2ᵗ), as tf.train.adam.
    const stepSize = learningRate / (1 - this.accBeta1);
    const vScale = 1 / (1 - this.accBeta2);
    // The gradient is the sum of the replicas' slots. Two slots (two cores) are added inside the
    // loop, which halves its time against summing into a scratch array first; more are pre-summed.
    const n = trainEnd - this.from;
    const w = weights.subarray(this.from, trainEnd);
    const s0 = r > 2 ? this.sumSlots(this.from, trainEnd) : grads.subarray(this.from, trainEnd);
    const s1 = r === 2 ? grads.subarray(len + this.from, len + trainEnd) : null;
    const a1 = 1 - beta1;
    const a2 = 1 - beta2;
    for (let j = 0; j < n; j++) {
      const g = s1 === null ? (s0[j] as number) : (s0[j] as number) + (s1[j] as number);
      const mj = beta1 * (m[j] as number) + a1 * g;
      const vj = beta2 * (v[j] as number) + a2 * g * g;
      m[j] = mj;
      v[j] = vj;
      w[j] = (w[j] as number) - (stepSize * mj) / (Math.sqrt(vj * vScale) + epsilon);
    }
    for (let i = Math.max(this.from, this.trainableLength); i < this.to; i++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += grads[k * len + i] as number;
      weights[i] = s / r;
    }
    this.accBeta1 *= beta1;
    this.accBeta2 *= beta2;
  }

  /** Σ over replicas of the gradient slots for [from, to), one slot at a time (sequential reads). */
  private sumSlots(from: number, to: number): Float32Array {
    const out = this.scratch.length >= to - from ? this.scratch.subarray(0, to - from) : (this.scratch = new Float32Array(to - from));
    out.set(this.grads.subarray(from, to));
    for (let s = 1; s < this.replicas; s++) {
      const slot = this.grads.subarray(s * this.len + from, s * this.len + to);
      for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + (slot[i] as number);
    }
    return out;
  }
}
