import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyTemperature, calibrationReport, fitTemperature, negLogLikelihood } from '../../src/training/calibration.ts';
import { Random } from '../../src/util/random.ts';

const softmax = (z: number[]) => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return Float32Array.from(e, (v) => v / s);
};

/** Items whose true class is drawn from softmax(logits): those probabilities are calibrated by construction. */
function calibratedSample(n: number, k: number, seed: number): { logits: number[][]; truth: number[] } {
  const rng = new Random(seed);
  const logits: number[][] = [];
  const truth: number[] = [];
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: k }, () => 2.5 * rng.normal());
    const p = softmax(z);
    let u = rng.next();
    let y = 0;
    while (y < k - 1 && u >= p[y]!) u -= p[y++]!;
    logits.push(z);
    truth.push(y);
  }
  return { logits, truth };
}

test('temperature scaling keeps the top class and sums to one', () => {
  const p = Float32Array.from([0.7, 0.2, 0.1]);
  for (const t of [0.5, 1, 2.5]) {
    const q = applyTemperature(p, t);
    assert.ok(Math.abs(q.reduce((a, b) => a + b, 0) - 1) < 1e-6);
    assert.equal(q.indexOf(Math.max(...q)), 0);
  }
  // T > 1 flattens, T < 1 sharpens
  assert.ok(applyTemperature(p, 2)[0]! < 0.7 && applyTemperature(p, 0.5)[0]! > 0.7);
  // a zero probability stays finite
  assert.ok(applyTemperature(Float32Array.from([1, 0]), 3).every(Number.isFinite));
});

test('the fitted temperature undoes a known over-confidence and lowers the calibration error', () => {
  const { logits, truth } = calibratedSample(4000, 5, 7);
  // the model's outputs are over-confident: logits scaled by 2.5 (true temperature 2.5)
  const overconfident = logits.map((z) => softmax(z.map((v) => 2.5 * v)));
  const t = fitTemperature(overconfident, truth);
  assert.ok(Math.abs(t - 2.5) < 0.25, `fitted T ${t}`);
  const before = calibrationReport(overconfident, truth, 15);
  const after = calibrationReport(
    overconfident.map((p) => applyTemperature(p, t)),
    truth,
    15,
  );
  assert.ok(before.ece > 0.1, `ECE before ${before.ece}`);
  assert.ok(after.ece < 0.03, `ECE after ${after.ece}`);
  assert.ok(negLogLikelihood(overconfident, truth, t) < negLogLikelihood(overconfident, truth, 1));
});

test('the expected calibration error is the count-weighted gap between accuracy and confidence per bin', () => {
  // two items at 0.95 confidence, one right; two at 0.65, both right; 10 bins
  const probs = [
    Float32Array.from([0.95, 0.05]),
    Float32Array.from([0.95, 0.05]),
    Float32Array.from([0.65, 0.35]),
    Float32Array.from([0.35, 0.65]),
  ];
  const r = calibrationReport(probs, [0, 1, 0, 1], 10);
  // bin [0.9, 1): confidence 0.95, accuracy 0.5 → gap 0.45; bin [0.6, 0.7): confidence 0.65, accuracy 1 → 0.35
  assert.ok(Math.abs(r.ece - 0.4) < 1e-6, `ece ${r.ece}`);
  assert.equal(r.bins.length, 10);
  assert.equal(r.bins[9]!.count, 2);
  assert.equal(r.bins[6]!.count, 2);
  assert.ok(Number.isNaN(r.bins[0]!.accuracy));
  assert.equal(fitTemperature([], []), 1);
});
