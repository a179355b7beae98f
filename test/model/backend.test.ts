/**
 * initBackend's XNNPACK-thread option for inference-only processes: off by default, SOUNDEE_WASM_THREADS
 * checked, and two threads really come up (in a child process: one WASM binary per process).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inferenceThreads, initBackend } from '../../src/model/backend.ts';

const backendModule = fileURLToPath(new URL('../../src/model/backend.ts', import.meta.url));

test('SOUNDEE_THREADS (1..64), else SOUNDEE_WASM_THREADS (1..8), else unset; anything else refused', () => {
  const saved = { t: process.env.SOUNDEE_THREADS, w: process.env.SOUNDEE_WASM_THREADS };
  try {
    delete process.env.SOUNDEE_THREADS;
    delete process.env.SOUNDEE_WASM_THREADS;
    assert.equal(inferenceThreads(), undefined);
    process.env.SOUNDEE_WASM_THREADS = '2';
    assert.equal(inferenceThreads(), 2);
    process.env.SOUNDEE_THREADS = '12';
    assert.equal(inferenceThreads(), 12, 'SOUNDEE_THREADS wins');
    for (const bad of ['0', '65', '1.5', 'two']) {
      process.env.SOUNDEE_THREADS = bad;
      assert.throws(() => inferenceThreads(), { code: 'ERR_BACKEND' });
    }
    delete process.env.SOUNDEE_THREADS;
    for (const bad of ['0', '9', '1.5', 'two']) {
      process.env.SOUNDEE_WASM_THREADS = bad;
      assert.throws(() => inferenceThreads(), { code: 'ERR_BACKEND' });
    }
  } finally {
    for (const [k, v] of [
      ['SOUNDEE_THREADS', saved.t],
      ['SOUNDEE_WASM_THREADS', saved.w],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('a bad thread count or training on onnx is refused before anything loads', async () => {
  await assert.rejects(initBackend('wasm', null, { wasmThreads: 0 }), { code: 'ERR_BACKEND' });
  await assert.rejects(initBackend('wasm', null, { wasmThreads: 9 }), { code: 'ERR_BACKEND' });
  await assert.rejects(initBackend('wasm', null, { threads: 9 }), { code: 'ERR_BACKEND' });
  await assert.rejects(initBackend('onnx', null, { threads: 0 }), { code: 'ERR_BACKEND' });
  await assert.rejects(initBackend('onnx', null, { threads: 65 }), { code: 'ERR_BACKEND' });
  await assert.rejects(initBackend('onnx', null, { purpose: 'training' }), {
    code: 'ERR_BACKEND',
    message: /training runs on TensorFlow\.js/,
  });
});

test('initBackend("wasm", …, { wasmThreads: 2 }) runs a model on two XNNPACK threads and exits by itself', () => {
  const script = `
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { initBackend } from ${JSON.stringify(backendModule)};
const lines = [];
const got = await initBackend('wasm', (l) => lines.push(l), { wasmThreads: 2 });
const y = tf.tidy(() => tf.conv2d(tf.ones([1, 8, 8, 3]), tf.ones([3, 3, 3, 4]), 1, 'same').sum().dataSync()[0]);
console.log(JSON.stringify({ got, threads: getThreadsCount(), y, lines }));
`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.error, undefined, `child did not finish: ${r.error}`);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { got: string; threads: number; y: number; lines: string[] };
  assert.equal(out.got, 'wasm');
  assert.equal(out.threads, 2);
  // 8×8 ones, 3×3×3 kernel of ones, same padding: interior 27, edges 18, corners 12; ×4 filters
  assert.equal(out.y, 4 * (36 * 27 + 24 * 18 + 4 * 12));
  assert.match(out.lines[0] ?? '', /2 threads/);
});

/** Runs `script` (an ES module) in a child with tsx; returns its last stdout line parsed as JSON. */
function runChild(script: string, env: NodeJS.ProcessEnv = {}): Record<string, unknown> {
  const childEnv = { ...process.env, ...env };
  delete childEnv.SOUNDEE_BACKEND;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    encoding: 'utf8',
    timeout: 60_000,
    env: childEnv,
  });
  assert.equal(r.error, undefined, `child did not finish: ${r.error}`);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
}

const onnxAbsent = await import('../../src/model/onnx/runtime.ts').then((m) =>
  m.loadOnnxRuntime().then(
    () => false as const,
    (e: Error) => `onnxruntime-node is not available here (${e.message})`,
  ),
);

test('auto picks onnx where it loads and says so; tfjs still comes up (wasm) to load models and train', { skip: onnxAbsent }, () => {
  const out = runChild(`
import * as tf from '@tensorflow/tfjs';
import { activeInference, initBackend } from ${JSON.stringify(backendModule)};
const lines = [];
const got = await initBackend(undefined, (l) => lines.push(l), { threads: 3 });
console.log(JSON.stringify({ got, tfjs: tf.getBackend(), engine: activeInference().engine, threads: activeInference().threads, lines }));
`);
  assert.equal(out.got, 'onnx');
  assert.equal(out.tfjs, 'wasm');
  assert.equal(out.engine, 'onnx');
  assert.equal(out.threads, 3);
  assert.deepEqual(out.lines, ['soundee: using the onnx (onnxruntime-node 1.30.0, 3 threads) backend']);
});

test('a training process never gets onnx: auto skips it', () => {
  const out = runChild(`
import { activeInference, initBackend } from ${JSON.stringify(backendModule)};
const lines = [];
const got = await initBackend('auto', (l) => lines.push(l), { purpose: 'training' });
console.log(JSON.stringify({ got, engine: activeInference().engine, lines }));
`);
  assert.equal(out.got, 'wasm');
  assert.equal(out.engine, 'tfjs');
  assert.deepEqual(out.lines, ['soundee: using the wasm (WebAssembly, XNNPACK) backend']);
});
