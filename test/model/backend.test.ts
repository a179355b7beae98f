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

test('SOUNDEE_WASM_THREADS: default 1, integers 1..8, anything else refused', () => {
  const saved = process.env.SOUNDEE_WASM_THREADS;
  try {
    delete process.env.SOUNDEE_WASM_THREADS;
    assert.equal(inferenceThreads(), 1);
    process.env.SOUNDEE_WASM_THREADS = '2';
    assert.equal(inferenceThreads(), 2);
    for (const bad of ['0', '9', '1.5', 'two']) {
      process.env.SOUNDEE_WASM_THREADS = bad;
      assert.throws(() => inferenceThreads(), { code: 'ERR_BACKEND' });
    }
  } finally {
    if (saved === undefined) delete process.env.SOUNDEE_WASM_THREADS;
    else process.env.SOUNDEE_WASM_THREADS = saved;
  }
});

test('a bad wasmThreads is refused before anything loads', async () => {
  await assert.rejects(initBackend('wasm', null, { wasmThreads: 0 }), { code: 'ERR_BACKEND' });
  await assert.rejects(initBackend('wasm', null, { wasmThreads: 9 }), { code: 'ERR_BACKEND' });
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
