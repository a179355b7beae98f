/** The pieces of learning a class: the fit of the new row, the network surgery, the bank's float16 storage. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { quantizeBank } from '../../src/learn/bank.ts';
import { finalDense, stageOutputs } from '../../src/learn/embed.ts';
import { hasExtraFeatures, withClass, withExtraFeatures, withoutClass } from '../../src/learn/extend.ts';
import { fitLogit, logSumExp, newClassProbability } from '../../src/learn/head.ts';
import { buildModel } from '../../src/model/architectures.ts';
import { initBackend } from '../../src/model/backend.ts';
import { Random } from '../../src/util/random.ts';

/** n rows of `dims` Gaussian features centred on `mean`. */
function cloud(n: number, dims: number, mean: number[], rng: Random): Float32Array {
  return Float32Array.from({ length: n * dims }, (_, i) => (mean[i % dims] ?? 0) + rng.normal());
}

test('logSumExp is exact for large logits', () => {
  assert.equal(logSumExp(new Float32Array([1000, 1000]), 0, 2), 1000 + Math.log(2));
  assert.ok(Math.abs(logSumExp(new Float32Array([0, Math.log(3)]), 0, 2) - Math.log(4)) < 1e-6);
});

test('fitLogit separates two clouds and stops at the optimum of its loss (gradient ≈ 0)', async () => {
  await initBackend('wasm', null);
  const rng = new Random(3);
  const dims = 5;
  const pos = cloud(40, dims, [3, 0, 1, 0, 0], rng);
  const neg = cloud(400, dims, [-1, 0, 0, 0, 0], rng);
  const posOff = Float64Array.from({ length: 40 }, () => rng.uniform(0, 2));
  const negOff = Float64Array.from({ length: 400 }, () => rng.uniform(0, 2));
  const o = { l2: 0.01, negativeWeight: 2 };
  const fit = fitLogit(pos, posOff, neg, negOff, dims, o);
  const pp = newClassProbability(fit, pos, posOff, dims);
  const pn = newClassProbability(fit, neg, negOff, dims);
  assert.ok(pp.reduce((a, v) => a + v, 0) / 40 > 0.9);
  assert.ok(pn.reduce((a, v) => a + v, 0) / 400 < 0.05);
  // the gradient of the (standardised) loss vanishes at the solution; in raw coordinates, the weighted
  // residuals are orthogonal to the bias column: Σ a·(p−1) + Σ c·p = 0
  const bias = pp.reduce((a, p) => a + (p - 1) / 40, 0) + pn.reduce((a, p) => a + (2 * p) / 400, 0);
  assert.ok(Math.abs(bias) < 1e-4, `bias gradient ${bias}`);
  // a worse row (the fit nudged) has a larger loss
  const loss = (w: Float32Array, b: number) => {
    const a = newClassProbability({ w, b }, pos, posOff, dims);
    const c = newClassProbability({ w, b }, neg, negOff, dims);
    return -a.reduce((s, p) => s + Math.log(p) / 40, 0) - c.reduce((s, p) => s + (2 * Math.log(1 - p)) / 400, 0);
  };
  assert.ok(loss(fit.w, fit.b + 0.5) > loss(fit.w, fit.b));
  assert.ok(loss(fit.w, fit.b - 0.5) > loss(fit.w, fit.b));
});

test('withClass appends a row and keeps every other weight bit for bit; withoutClass takes it away again', async () => {
  await initBackend('wasm', null);
  const m = buildModel('resnet', { numClasses: 3, seed: 4, widths: [4, 4, 8] });
  const [k0, b0] = finalDense(m).getWeights();
  const w = Float32Array.from({ length: 8 }, (_, i) => i - 3);
  const grown = await withClass(m, w, 0.25);
  const [k1, b1] = finalDense(grown).getWeights();
  assert.deepEqual(k1!.shape, [8, 4]);
  const k1v = k1!.arraySync() as number[][];
  assert.deepEqual(
    k1v.map((r) => r.slice(0, 3)),
    k0!.arraySync(),
  );
  assert.deepEqual(
    k1v.map((r) => r[3]),
    [...w],
  );
  assert.deepEqual([...b1!.dataSync()], [...b0!.dataSync(), 0.25]);
  for (const l of m.layers) {
    if (l === finalDense(m)) continue;
    const a = l.getWeights().map((t) => [...t.dataSync()]);
    assert.deepEqual(
      grown
        .getLayer(l.name)
        .getWeights()
        .map((t) => [...t.dataSync()]),
      a,
      l.name,
    );
  }
  const back = await withoutClass(grown, 3);
  const x = tf.randomUniform([3, 32, 32, 3], 0, 1, 'float32', 9);
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(m.predict(x) as tf.Tensor, back.predict(x) as tf.Tensor))).dataSync()[0]!);
  assert.equal(d, 0);
  await assert.rejects(withoutClass(grown, 7), RangeError);
  assert.throws(() => void withClass(m, new Float32Array(3), 0), RangeError);
  x.dispose();
  for (const model of [m, grown, back]) model.dispose();
});

test('withExtraFeatures widens the head with pooled stage outputs and changes no output', async () => {
  await initBackend('wasm', null);
  const m = buildModel('resnet', { numClasses: 3, seed: 5, widths: [4, 4, 8] });
  assert.equal(stageOutputs(m).length, 3);
  const wide = await withExtraFeatures(m);
  assert.ok(hasExtraFeatures(wide) && !hasExtraFeatures(m));
  // head input: 8 (its own) + 2 × (4 + 4 + 8) pooled
  assert.deepEqual(finalDense(wide).getWeights()[0]!.shape, [40, 3]);
  const x = tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 2);
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(m.predict(x) as tf.Tensor, wide.predict(x) as tf.Tensor))).dataSync()[0]!);
  assert.ok(d < 1e-6, `outputs differ by ${d}`);
  // widening a widened model changes nothing
  const again = await withExtraFeatures(wide);
  assert.deepEqual(finalDense(again).getWeights()[0]!.shape, [40, 3]);
  x.dispose();
  for (const model of [m, wide, again]) model.dispose();
});

test('the bank is stored as one byte per feature, within half a step of each value', () => {
  const rng = new Random(8);
  const dims = 6;
  const emb = Float32Array.from({ length: 50 * dims }, (_, i) => (i % dims) * 10 + rng.normal());
  const { data, min, step } = quantizeBank(emb, dims);
  assert.equal(data.length, emb.length);
  emb.forEach((v, i) => {
    const back = min[i % dims]! + step[i % dims]! * data[i]!;
    assert.ok(Math.abs(back - v) <= step[i % dims]! / 2 + 1e-6);
  });
  // the extremes of each feature are levels 0 and 255
  for (let j = 0; j < dims; j++) {
    const col = [...data.filter((_, i) => i % dims === j)];
    assert.equal(Math.min(...col), 0);
    assert.equal(Math.max(...col), 255);
  }
});
