/**
 * Fitting one more row of the final Dense layer: the new class's logit u = w·e + b on the trunk's
 * embedding e, next to the K original logits z, which stay as they are.
 *
 * The new class's probability is p = softmax(z, u)[new] = σ(u − LSE(z)): logistic regression with a
 * per-window offset LSE(z). Positives (windows of the examples) should get p → 1, negatives (the user's
 * negative clips and the bank of other sounds) p → 0, so the loss is the weighted cross-entropy
 *   −Σ_pos a·log p − Σ_neg c·log(1 − p) + (λ/2)·|w|²,
 * convex in (w, b); Newton's method solves it in a few steps (dims + 1 unknowns). The original classes
 * keep their relative probabilities; on windows where p is small they lose only p.
 */
import * as tf from '@tensorflow/tfjs';

/** Options of {@link fitLogit}. */
export interface FitOptions {
  /** L2 penalty on w (not on b), relative to the total sample weight. Default 0.01. */
  l2: number;
  /** Total weight of the negatives relative to the positives' (each side's weight is spread over its windows). Default 1. */
  negativeWeight: number;
  /** Newton steps at most. Default 50. */
  maxIterations: number;
}

export const DEFAULT_FIT: Readonly<FitOptions> = Object.freeze({ l2: 0.01, negativeWeight: 1, maxIterations: 50 });

/** The fitted row: the new class's logit is `w·e + b` (in the scale the offsets were given in). */
export interface FittedLogit {
  w: Float32Array;
  b: number;
  iterations: number;
  /** Final loss per unit of weight. */
  loss: number;
}

/** log Σ exp over one row of logits. */
export function logSumExp(z: Float32Array, offset: number, n: number): number {
  let m = -Infinity;
  for (let k = 0; k < n; k++) m = Math.max(m, z[offset + k]!);
  let s = 0;
  for (let k = 0; k < n; k++) s += Math.exp(z[offset + k]! - m);
  return m + Math.log(s);
}

/** LSE of each row of an n × classes logit matrix. */
export function rowOffsets(logits: Float32Array, classes: number): Float64Array {
  const n = logits.length / classes;
  return Float64Array.from({ length: n }, (_, i) => logSumExp(logits, i * classes, classes));
}

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** Solves A x = g for a symmetric positive definite A (d × d, row-major) by Cholesky; A is overwritten. */
function solveSpd(a: Float64Array, g: Float64Array, d: number): Float64Array {
  for (let j = 0; j < d; j++) {
    let s = a[j * d + j]!;
    for (let k = 0; k < j; k++) s -= a[j * d + k]! ** 2;
    const l = Math.sqrt(Math.max(s, 1e-12));
    a[j * d + j] = l;
    for (let i = j + 1; i < d; i++) {
      let t = a[i * d + j]!;
      for (let k = 0; k < j; k++) t -= a[i * d + k]! * a[j * d + k]!;
      a[i * d + j] = t / l;
    }
  }
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let t = g[i]!;
    for (let k = 0; k < i; k++) t -= a[i * d + k]! * y[k]!;
    y[i] = t / a[i * d + i]!;
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let t = y[i]!;
    for (let k = i + 1; k < d; k++) t -= a[k * d + i]! * x[k]!;
    x[i] = t / a[i * d + i]!;
  }
  return x;
}

/**
 * Fits the new class's logit by Newton's method.
 * @param pos positive embeddings, nPos × dims row-major.
 * @param posOffsets LSE of the original logits of each positive window.
 * @param neg negative embeddings, nNeg × dims (may be empty).
 * @param negOffsets LSE of the original logits of each negative window.
 */
export function fitLogit(
  pos: Float32Array,
  posOffsets: Float64Array,
  neg: Float32Array,
  negOffsets: Float64Array,
  dims: number,
  options: Partial<FitOptions> = {},
): FittedLogit {
  const o = { ...DEFAULT_FIT, ...options };
  if (posOffsets.length === 0) throw new RangeError('fitLogit needs at least one positive window');
  // fit on standardised features (so that one L2 penalty suits features of any scale), then map back
  const { mean, scale } = standardiser([pos, neg], dims);
  const fit = fitStandardised(standardise(pos, mean, scale, dims), posOffsets, standardise(neg, mean, scale, dims), negOffsets, dims, o);
  const w = Float32Array.from(fit.w, (v, j) => v / scale[j]!);
  const b = fit.b - fit.w.reduce((a, v, j) => a + (v * mean[j]!) / scale[j]!, 0);
  return { ...fit, w, b };
}

/** Mean and standard deviation (at least 1e-6) of every feature over the rows of several matrices. */
function standardiser(sets: readonly Float32Array[], dims: number): { mean: Float64Array; scale: Float64Array } {
  const mean = new Float64Array(dims);
  const sq = new Float64Array(dims);
  let n = 0;
  for (const x of sets)
    for (let i = 0; i < x.length; i += dims) {
      n++;
      for (let j = 0; j < dims; j++) {
        mean[j]! += x[i + j]!;
        sq[j]! += x[i + j]! ** 2;
      }
    }
  for (let j = 0; j < dims; j++) mean[j]! /= n;
  const scale = Float64Array.from(sq, (v, j) => Math.max(1e-6, Math.sqrt(Math.max(0, v / n - mean[j]! ** 2))));
  return { mean, scale };
}

function standardise(x: Float32Array, mean: Float64Array, scale: Float64Array, dims: number): Float32Array {
  return Float32Array.from(x, (v, i) => (v - mean[i % dims]!) / scale[i % dims]!);
}

/** The fit's data: rows [e, 1] of X with their target, weight and offset, and the penalty. */
interface Problem {
  x: Float32Array;
  off: Float64Array;
  y: Uint8Array;
  sw: Float64Array;
  n: number;
  /** Columns of X: the features and the bias. */
  d: number;
  lambda: number;
  total: number;
}

function problem(
  pos: Float32Array,
  posOffsets: Float64Array,
  neg: Float32Array,
  negOffsets: Float64Array,
  dims: number,
  o: FitOptions,
): Problem {
  const nPos = posOffsets.length;
  const nNeg = negOffsets.length;
  const n = nPos + nNeg;
  const d = dims + 1;
  const x = new Float32Array(n * d);
  const off = new Float64Array(n);
  const y = new Uint8Array(n);
  const sw = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const isPos = i < nPos;
    const j = isPos ? i : i - nPos;
    x.set((isPos ? pos : neg).subarray(j * dims, (j + 1) * dims), i * d);
    x[i * d + dims] = 1;
    off[i] = isPos ? posOffsets[j]! : negOffsets[j]!;
    y[i] = isPos ? 1 : 0;
    sw[i] = isPos ? 1 / nPos : o.negativeWeight / nNeg;
  }
  const total = 1 + (nNeg ? o.negativeWeight : 0);
  return { x, off, y, sw, n, d, lambda: o.l2 * total, total };
}

/** u − offset of every row for parameters t. */
function margins(p: Problem, t: Float64Array): Float64Array {
  return Float64Array.from(p.off, (o2, i) => {
    let u = 0;
    for (let j = 0; j < p.d; j++) u += t[j]! * p.x[i * p.d + j]!;
    return u - o2;
  });
}

function lossAt(p: Problem, t: Float64Array): number {
  const m = margins(p, t);
  let l = 0;
  for (let i = 0; i < p.n; i++) {
    // −log σ(m) or −log(1 − σ(m)), without overflow
    const v = p.y[i] ? -m[i]! : m[i]!;
    l += p.sw[i]! * (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)));
  }
  let ww = 0;
  for (let j = 0; j < p.d - 1; j++) ww += t[j]! ** 2;
  return (l + 0.5 * p.lambda * ww) / p.total;
}

/** The Newton direction H⁻¹g at theta (X is p.x as a tensor). */
function newtonDirection(p: Problem, X: tf.Tensor2D, theta: Float64Array): Float64Array {
  const { n, d } = p;
  const m = margins(p, theta);
  const g = new Float64Array(d);
  const root = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const q = sigmoid(m[i]!);
    const gi = p.sw[i]! * (q - p.y[i]!);
    for (let j = 0; j < d; j++) g[j]! += gi * p.x[i * d + j]!;
    root[i] = Math.sqrt(p.sw[i]! * Math.max(q * (1 - q), 1e-10));
  }
  // the Hessian XᵀDX is the costly part (n·d²): one matrix product on the tensor backend
  const h = Float64Array.from(
    tf.tidy(() => {
      const xs = X.mul(tf.tensor2d(root, [n, 1]));
      return tf.matMul(xs, xs, true, false).dataSync();
    }),
  );
  for (let j = 0; j < d - 1; j++) {
    g[j]! += p.lambda * theta[j]!;
    h[j * d + j]! += p.lambda;
  }
  h[(d - 1) * d + d - 1]! += 1e-9; // b is not penalised; keep the system definite
  return solveSpd(h, g, d);
}

function fitStandardised(
  pos: Float32Array,
  posOffsets: Float64Array,
  neg: Float32Array,
  negOffsets: Float64Array,
  dims: number,
  o: FitOptions,
): FittedLogit {
  const p = problem(pos, posOffsets, neg, negOffsets, dims, o);
  const theta = new Float64Array(p.d);
  // start where the new class ties the original ones on average (u = mean offset): Newton from there is stable
  theta[dims] = p.sw.reduce((a, s, i) => a + s * p.off[i]!, 0) / p.total;
  const X = tf.tensor2d(p.x, [p.n, p.d]);
  let loss = lossAt(p, theta);
  let it = 0;
  try {
    for (; it < o.maxIterations; it++) {
      const step = newtonDirection(p, X, theta);
      // damped step: halve until the loss does not rise
      let next = theta;
      let nextLoss = loss;
      for (let tries = 0, t = 1; tries < 30; tries++, t /= 2) {
        const cand = theta.map((v, j) => v - t * step[j]!);
        const l = lossAt(p, cand);
        if (l <= loss) {
          next = cand;
          nextLoss = l;
          break;
        }
      }
      const gain = loss - nextLoss;
      theta.set(next);
      loss = nextLoss;
      if (gain < 1e-9) {
        it++;
        break;
      }
    }
  } finally {
    X.dispose();
  }
  return { w: Float32Array.from(theta.subarray(0, dims)), b: theta[dims]!, iterations: it, loss };
}

/**
 * Weight imprinting (Qi et al., 2018), the no-training baseline: w is the mean positive embedding
 * scaled to the mean norm of the original classes' weight rows, b the mean original bias.
 */
export function imprintLogit(pos: Float32Array, dims: number, kernel: Float32Array, bias: Float32Array, classes: number): FittedLogit {
  const n = pos.length / dims;
  const mean = new Float64Array(dims);
  for (let i = 0; i < n; i++) for (let j = 0; j < dims; j++) mean[j]! += pos[i * dims + j]! / n;
  let norms = 0;
  for (let k = 0; k < classes; k++) {
    let s = 0;
    for (let j = 0; j < dims; j++) s += kernel[j * classes + k]! ** 2;
    norms += Math.sqrt(s) / classes;
  }
  const len = Math.hypot(...mean) || 1;
  const b = bias.reduce((a, v) => a + v, 0) / classes;
  return { w: Float32Array.from(mean, (v) => (v / len) * norms), b, iterations: 0, loss: Number.NaN };
}

/** The new class's probability for each embedding row, given the row's offset (LSE of the original logits). */
export function newClassProbability(
  fit: Pick<FittedLogit, 'w' | 'b'>,
  emb: Float32Array,
  offsets: Float64Array,
  dims: number,
): Float32Array {
  return Float32Array.from(offsets, (off, i) => {
    let u = fit.b;
    for (let j = 0; j < dims; j++) u += fit.w[j]! * emb[i * dims + j]!;
    return sigmoid(u - off);
  });
}
