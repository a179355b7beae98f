/**
 * Calibration of class probabilities: temperature scaling (Guo et al. 2017) fitted on held-out
 * predictions, the expected calibration error and the bins of a reliability diagram.
 *
 * Temperature scaling divides the logits by T before the softmax. The models end in a softmax, so it
 * is applied to probabilities as softmax(log p / T), which is the same thing (log p differs from the
 * logits by a constant per row; applied at inference by src/model/calibration.ts). It never changes
 * which class is on top: accuracy stays, confidence moves towards what the accuracy is.
 */
import { applyTemperature, temperedLogits } from '../model/calibration.ts';

export { applyTemperature };

/** Mean negative log-likelihood of the true classes after temperature scaling. */
export function negLogLikelihood(probs: readonly Float32Array[], truth: readonly number[], temperature: number): number {
  let sum = 0;
  probs.forEach((p, i) => {
    const { z, max } = temperedLogits(p, temperature);
    let lse = 0;
    for (const v of z) lse += Math.exp(v - max);
    sum -= z[truth[i]!]! - max - Math.log(lse);
  });
  return sum / Math.max(1, probs.length);
}

/**
 * The temperature that minimises the negative log-likelihood of `truth` (golden-section search over
 * log T in [1/20, 20]; the NLL is convex in 1/T).
 * @returns 1 when there is nothing to fit on.
 */
export function fitTemperature(probs: readonly Float32Array[], truth: readonly number[]): number {
  if (!probs.length) return 1;
  const f = (logT: number) => negLogLikelihood(probs, truth, Math.exp(logT));
  let a = Math.log(1 / 20);
  let b = Math.log(20);
  const r = (Math.sqrt(5) - 1) / 2;
  let c = b - r * (b - a);
  let d = a + r * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let it = 0; it < 60 && b - a > 1e-4; it++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - r * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + r * (b - a);
      fd = f(d);
    }
  }
  return Math.exp((a + b) / 2);
}

/** One bin of a reliability diagram. */
export interface ReliabilityBin {
  /** Confidence range [lo, hi) (the last bin includes 1). */
  lo: number;
  hi: number;
  /** Items whose top probability falls in the bin. */
  count: number;
  /** Their mean top probability, and the share of them whose top class is right (NaN when empty). */
  confidence: number;
  accuracy: number;
}

/** Expected calibration error with its bins. */
export interface CalibrationReport {
  /** Σ over bins of (items in bin / all items) · |accuracy − confidence|, top-1, equal-width bins. */
  ece: number;
  /** Largest |accuracy − confidence| over non-empty bins. */
  maxGap: number;
  bins: ReliabilityBin[];
  /** Mean negative log-likelihood of the true class. */
  nll: number;
}

/**
 * The expected calibration error (top-1 confidence, `binCount` equal-width bins) and the reliability
 * diagram's bins.
 */
export function calibrationReport(probs: readonly Float32Array[], truth: readonly number[], binCount = 15): CalibrationReport {
  const bins: ReliabilityBin[] = Array.from({ length: binCount }, (_, b) => ({
    lo: b / binCount,
    hi: (b + 1) / binCount,
    count: 0,
    confidence: 0,
    accuracy: 0,
  }));
  probs.forEach((p, i) => {
    let top = 0;
    for (let k = 1; k < p.length; k++) if (p[k]! > p[top]!) top = k;
    const conf = p[top]!;
    const bin = bins[Math.min(binCount - 1, Math.floor(conf * binCount))]!;
    bin.count++;
    bin.confidence += conf;
    bin.accuracy += top === truth[i] ? 1 : 0;
  });
  let ece = 0;
  let maxGap = 0;
  for (const b of bins) {
    if (!b.count) {
      b.confidence = b.accuracy = Number.NaN;
      continue;
    }
    b.confidence /= b.count;
    b.accuracy /= b.count;
    const gap = Math.abs(b.accuracy - b.confidence);
    ece += (b.count / probs.length) * gap;
    maxGap = Math.max(maxGap, gap);
  }
  return { ece, maxGap, bins, nll: negLogLikelihood(probs, truth, 1) };
}
