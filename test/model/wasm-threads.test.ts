/**
 * initWasmBackend({ threads: 2 }) in a child process (tfjs loads one WASM binary per process): the
 * threaded binary comes up with two XNNPACK threads, computes what the cpu backend computes, and the
 * process exits on its own (idle pool threads must not keep it alive).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const threadsModule = fileURLToPath(new URL('../../src/model/wasm-threads.ts', import.meta.url));

const script = `
import * as tf from '@tensorflow/tfjs';
import { initWasmBackend } from ${JSON.stringify(threadsModule)};
const threads = await initWasmBackend({ threads: 2 });
const run = () => tf.tidy(() => {
  const x = tf.tensor4d(Array.from({ length: 2 * 9 * 9 * 4 }, (_, i) => Math.sin(i)), [2, 9, 9, 4]);
  const w = tf.tensor4d(Array.from({ length: 3 * 3 * 4 * 6 }, (_, i) => Math.cos(i)), [3, 3, 4, 6]);
  return Array.from(tf.conv2d(x, w, 1, 'same').dataSync());
});
const wasm = run();
await tf.setBackend('cpu');
const cpu = run();
const maxDiff = Math.max(...wasm.map((v, i) => Math.abs(v - cpu[i])));
console.log(JSON.stringify({ threads, maxDiff }));
`;

test('two XNNPACK threads: correct results, and the process exits by itself', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.error, undefined, `child did not finish: ${r.error}`);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { threads: number; maxDiff: number };
  assert.equal(out.threads, 2);
  assert.ok(out.maxDiff < 1e-4, `wasm vs cpu differ by ${out.maxDiff}`);
});
