/**
 * Applying a model's calibration to its probabilities at inference (fitting it is
 * src/training/calibration.ts). Temperature scaling divides the logits by T before the softmax; the
 * networks end in a softmax, so it is applied as softmax(log p / T), the same thing (log p differs
 * from the logits by a constant per row). The top class never changes.
 */

/** Probabilities under this are treated as this (log 0 would be -∞). */
export const P_MIN = 1e-12;

/**
 * The tempered logits of one row, log(max(P_MIN, p)) / T, and their largest value (what a stable
 * softmax or log-sum-exp subtracts): the one computation applying and fitting a temperature share.
 */
export function temperedLogits(p: ArrayLike<number>, temperature: number): { z: Float64Array; max: number } {
  let max = -Infinity;
  const z = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    z[i] = Math.log(Math.max(P_MIN, p[i]!)) / temperature;
    if (z[i]! > max) max = z[i]!;
  }
  return { z, max };
}

/** softmax(log p / T) of one row, into a new array (a copy when T is 1). */
export function applyTemperature(p: Float32Array, temperature: number): Float32Array {
  if (temperature === 1) return Float32Array.from(p);
  const { z, max } = temperedLogits(p, temperature);
  let sum = 0;
  for (let i = 0; i < z.length; i++) sum += z[i] = Math.exp(z[i]! - max);
  return Float32Array.from(z, (v) => v / sum);
}
