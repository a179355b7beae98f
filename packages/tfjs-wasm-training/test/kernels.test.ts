/**
 * The WASM training kernels against the pure-JS cpu backend: gradients of conv2d (input and filter),
 * matMul with transposed operands, max-pool gradients and leading-axis sums, on small odd shapes;
 * then a few `model.fit` steps of a tiny conv net on WASM.
 *
 * Tolerance: float32 sums of at most a few hundred products of values in [-1, 1], computed in a
 * different order on each backend; the worst difference seen is ~1e-6, the bound is 1e-4 × max(1, |ref|∞).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels, unregisterWasmTrainingKernels } from '../src/kernels.ts';

const TOLERANCE = 1e-4;

/** Deterministic values in [-1, 1) (xorshift), so failures reproduce. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs((actual[i] as number) - (expected[i] as number));
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= TOLERANCE * scale, `${what}: |wasm - cpu| = ${worst} at ${at} exceeds ${TOLERANCE * scale}`);
}

/** Runs `f` on the named backend and returns plain arrays. */
function on<T>(backend: 'wasm' | 'cpu', f: () => T): T {
  tf.setBackend(backend);
  return f();
}

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

function convGrads(xShape: number[], wShape: number[], strides: number | [number, number], pad: Pad, seed: number) {
  const x0 = values(tf.util.sizeFromShape(xShape), seed);
  const w0 = values(tf.util.sizeFromShape(wShape), seed + 1);
  return () =>
    tf.tidy(() => {
      const x = tf.tensor4d(x0, xShape as [number, number, number, number]);
      const w = tf.tensor4d(w0, wShape as [number, number, number, number]);
      const conv = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad);
      const y = conv(x, w);
      // A fixed, non-uniform upstream gradient so every output position matters.
      const dy = tf.tensor(values(y.size, seed + 2), y.shape);
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, b), dy)))([x, w]);
      return { dx: dx!.dataSync() as Float32Array, dw: dw!.dataSync() as Float32Array };
    });
}

before(async () => {
  tf.env().set('PROD', true);
  assert.ok(await tf.setBackend('wasm'));
  registerWasmTrainingKernels();
  registerWasmTrainingKernels(); // idempotent
});

describe('conv2d gradients on wasm match cpu', () => {
  const cases: { x: number[]; w: number[]; strides: number | [number, number]; pad: Pad }[] = [
    { x: [2, 5, 5, 1], w: [3, 3, 1, 2], strides: 1, pad: 'same' },
    { x: [1, 5, 5, 3], w: [3, 3, 3, 2], strides: 1, pad: 'valid' },
    { x: [2, 7, 6, 3], w: [3, 3, 3, 4], strides: 2, pad: 'same' },
    { x: [1, 8, 8, 5], w: [3, 3, 5, 3], strides: 2, pad: 'valid' },
    { x: [3, 9, 7, 2], w: [2, 2, 2, 5], strides: 2, pad: 'valid' }, // last row and column unused
    { x: [2, 6, 6, 4], w: [1, 1, 4, 4], strides: 2, pad: 'same' }, // ResNet shortcut
    { x: [2, 11, 9, 3], w: [5, 5, 3, 5], strides: 3, pad: 'same' },
    { x: [1, 7, 9, 2], w: [3, 2, 2, 3], strides: [1, 2], pad: 'same' },
    {
      x: [1, 7, 7, 2],
      w: [3, 3, 2, 3],
      strides: 2,
      pad: [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ],
    },
    { x: [4, 13, 13, 5], w: [3, 3, 5, 4], strides: 1, pad: 'same' },
  ];
  cases.forEach((c, i) => {
    test(`x [${c.x}] w [${c.w}] strides ${JSON.stringify(c.strides)} pad ${JSON.stringify(c.pad)}`, () => {
      const run = convGrads(c.x, c.w, c.strides, c.pad, 100 * i + 1);
      const got = on('wasm', run);
      const want = on('cpu', run);
      assertClose(got.dx, want.dx, 'dL/dx');
      assertClose(got.dw, want.dw, 'dL/dW');
    });
  });

  test('filter gradient with reduction chunks that split images (smallest chunk size)', () => {
    unregisterWasmTrainingKernels();
    registerWasmTrainingKernels({ filterGradChunkBytes: 4096 });
    try {
      for (const [i, c] of [
        { x: [4, 13, 13, 5], w: [3, 3, 5, 4], strides: 1, pad: 'same' as const },
        { x: [3, 9, 11, 2], w: [3, 3, 2, 6], strides: 2, pad: 'valid' as const },
      ].entries()) {
        const run = convGrads(c.x, c.w, c.strides, c.pad, 1000 + i);
        assertClose(on('wasm', run).dw, on('cpu', run).dw, 'dL/dW');
      }
    } finally {
      unregisterWasmTrainingKernels();
      registerWasmTrainingKernels();
    }
  });

  test('an unsupported data format is refused with a clear error', () => {
    tf.setBackend('wasm');
    const x = tf.zeros([1, 4, 4, 2]);
    const dy = tf.zeros([1, 4, 4, 3]);
    assert.throws(
      () =>
        tf
          .engine()
          .runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 3] }),
      /only dataFormat NHWC is supported/,
    );
    tf.dispose([x, dy]);
  });
});

describe('other replaced kernels on wasm match cpu', () => {
  for (const [ta, tb] of [
    [false, true],
    [true, false],
    [true, true],
    [false, false],
  ] as const) {
    test(`matMul transposeA=${ta} transposeB=${tb}, both orientations`, () => {
      // The cost model computes [200×3]·[3×150] as C = op(A)·op(B) and [8×600]·[600×200] as
      // Cᵀ = op(B)ᵀ·op(A)ᵀ, whatever the transposes; [3×200]·[200×2] goes either way.
      for (const [m, k, n] of [
        [3, 200, 2],
        [200, 3, 150],
        [8, 600, 200],
      ] as const) {
        const a0 = values(m * k, m + k);
        const b0 = values(k * n, k + n);
        // biome-ignore lint/performance/noDynamicNamespaceImportAccess: the op under test varies by case
        const run = () =>
          tf.tidy(
            () =>
              tf.matMul(tf.tensor2d(a0, ta ? [k, m] : [m, k]), tf.tensor2d(b0, tb ? [n, k] : [k, n]), ta, tb).dataSync() as Float32Array,
          );
        assertClose(on('wasm', run), on('cpu', run), `matMul ${m}x${k}x${n}`);
      }
    });
  }

  const pools: { x: number[]; f: number; s: number; pad: 'same' | 'valid' }[] = [
    { x: [2, 6, 6, 3], f: 2, s: 2, pad: 'valid' },
    { x: [1, 7, 5, 4], f: 3, s: 2, pad: 'same' },
    { x: [2, 5, 5, 2], f: 3, s: 1, pad: 'same' },
  ];
  for (const p of pools) {
    test(`maxPool gradient x [${p.x}] ${p.f}×${p.f} stride ${p.s} ${p.pad}`, () => {
      const x0 = values(tf.util.sizeFromShape(p.x), 7);
      const run = () =>
        tf.tidy(() => {
          const x = tf.tensor4d(x0, p.x as [number, number, number, number]);
          const pool = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, p.f, p.s, p.pad);
          const dy = tf.tensor(values(pool(x).size, 8), pool(x).shape);
          return tf
            .grad((a: tf.Tensor) => tf.sum(tf.mul(pool(a), dy)))(x)
            .dataSync() as Float32Array;
        });
      assertClose(on('wasm', run), on('cpu', run), 'dL/dx');
    });
  }

  test('maxPool gradient of an all-negative window reaches its maximum (stock wasm misroutes it)', () => {
    const run = () =>
      tf.tidy(
        () =>
          tf
            .grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid')))(tf.tensor4d([-3, -1, -2, -4], [1, 2, 2, 1]))
            .dataSync() as Float32Array,
      );
    assert.deepEqual([...on('wasm', run)], [0, 1, 0, 0]);
  });

  for (const op of ['sum', 'mean'] as const) {
    test(`${op} over leading axes, with and without keepDims, and over other axes`, () => {
      const x0 = values(4 * 5 * 6, 3);
      for (const [axis, keepDims] of [
        [[0, 1], false],
        [[0], true],
        [[2], false],
        [[0, 2], false],
      ] as const) {
        const run = () => tf.tidy(() => tf[op](tf.tensor3d(x0, [4, 5, 6]), [...axis], keepDims));
        const got = on('wasm', () => {
          const t = run();
          return { shape: t.shape, data: t.dataSync() as Float32Array };
        });
        const want = on('cpu', () => {
          const t = run();
          return { shape: t.shape, data: t.dataSync() as Float32Array };
        });
        assert.deepEqual(got.shape, want.shape);
        assertClose(got.data, want.data, `${op} axis ${axis}`);
      }
    });
  }

  test('tile: whole-tensor repeats (fast path) and other tilings, float32 and int32', () => {
    for (const [shape, reps] of [
      [
        [1, 1, 1, 3],
        [4, 5, 2, 1],
      ],
      [
        [1, 2, 3],
        [3, 1, 1],
      ],
      [
        [2, 3],
        [2, 2],
      ],
      [
        [1, 3],
        [1, 3],
      ],
    ] as const) {
      for (const dtype of ['float32', 'int32'] as const) {
        const n = tf.util.sizeFromShape([...shape]);
        const run = () =>
          tf.tidy(() => {
            const t = tf.tile(
              tf.tensor(
                Array.from({ length: n }, (_, i) => i + 1),
                [...shape],
                dtype,
              ),
              [...reps],
            );
            return { shape: t.shape, data: [...t.dataSync()] };
          });
        assert.deepEqual(on('wasm', run), on('cpu', run), `tile [${shape}] by [${reps}] ${dtype}`);
      }
    }
  });
});

describe('training on wasm', () => {
  test('a few model.fit steps of a small conv net reduce the loss, leaking nothing', async () => {
    tf.setBackend('wasm');
    const n = 32;
    // Two classes that differ in where the bright quadrant is: learnable in a few steps.
    const xs = tf.tidy(() => {
      const noise = tf.mul(tf.tensor4d(values(n * 12 * 12 * 3, 11), [n, 12, 12, 3]), 0.1);
      const bright = tf.pad(tf.ones([n, 6, 6, 3]), [
        [0, 0],
        [0, 6],
        [0, 6],
        [0, 0],
      ]);
      const isB = tf.reshape(tf.tensor1d(Array.from({ length: n }, (_, i) => i % 2)), [n, 1, 1, 1]);
      return tf.add(noise, tf.add(tf.mul(bright, tf.sub(1, isB)), tf.mul(tf.reverse(bright, [1, 2]), isB)));
    });
    const ys = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: n }, (_, i) => i % 2),
        'int32',
      ),
      2,
    );
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [12, 12, 3],
          filters: 4,
          kernelSize: 3,
          padding: 'same',
          activation: 'relu',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
        }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({
          filters: 6,
          kernelSize: 3,
          strides: 2,
          padding: 'valid',
          activation: 'relu',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
        }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
      ],
    });
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
    const lossOf = () => tf.tidy(() => (model.evaluate(xs, ys) as tf.Scalar).dataSync()[0] as number);
    const before = lossOf();
    await model.fit(xs, ys, { epochs: 8, batchSize: 16, shuffle: false, verbose: 0 });
    const after = lossOf();
    assert.ok(Number.isFinite(after) && after < 0.8 * before, `loss ${before} -> ${after}`);
    // The kernels' intermediates live below the engine (backend data ids): none may outlive a step.
    const ids = tf.backend().numDataIds();
    await model.trainOnBatch(xs, ys);
    await model.trainOnBatch(xs, ys);
    assert.equal(tf.backend().numDataIds(), ids, 'backend data leaked by a training step');
    tf.dispose([xs, ys]);
    model.dispose();
  });
});
