/**
 * The onnx engine's own settings, side by side in one process (sessions taking turns, round after
 * round): intra-op threads 1 and 2, idle threads spinning or sleeping; per window, the wall time and
 * the process CPU time (all threads) at batch 1, 8 and 64; and what a model costs at load (network
 * fingerprint, in-memory export, onnxruntime session).
 *
 * `tsx bench/onnx-engine.ts [--rounds 8]` (needs onnxruntime-node).
 */
import { parseArgs } from 'node:util';
import type * as tf from '@tensorflow/tfjs';
import { buildModel } from '../src/model/architectures.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadModel } from '../src/model/io.ts';
import { exportWithFingerprint, networkFingerprint } from '../src/model/onnx/model-file.ts';
import { OnnxEngine } from '../src/model/onnx/runtime.ts';
import { DEFAULT_MODEL_DIR } from '../src/paths.ts';
import { table, uptime } from './lib.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '8' } } });
const rounds = Number(values.rounds);
const BATCHES = [1, 8, 64];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await initBackend('onnx', null);
console.log(`before: ${uptime()}`);
const networks: [string, tf.LayersModel][] = [
  ['bundled model (ResNet)', (await loadModel(DEFAULT_MODEL_DIR)).model],
  ['seed CNN', buildModel('seed-cnn', { numClasses: 8, seed: 1 })],
];

const loadRows = [['network', 'fingerprint', 'in-memory export', 'onnxruntime session']];
for (const [name, model] of networks) {
  const t = { fingerprint: [] as number[], export: [] as number[], session: [] as number[] };
  for (let i = 0; i < 5; i++) {
    let t0 = performance.now();
    const fp = networkFingerprint(model);
    t.fingerprint.push(performance.now() - t0);
    t0 = performance.now();
    const bytes = exportWithFingerprint(model, fp);
    t.export.push(performance.now() - t0);
    t0 = performance.now();
    new OnnxEngine(bytes, [32, 32, 3]).dispose();
    t.session.push(performance.now() - t0);
  }
  loadRows.push([name, ...[t.fingerprint, t.export, t.session].map((x) => `${median(x).toFixed(1)} ms`)]);
}
console.log('\nAt load (median of 5):');
console.log(table(loadRows));

for (const [name, model] of networks) {
  const bytes = exportWithFingerprint(model);
  const variants = [1, 2].flatMap((threads) =>
    [false, true].map((spinning) => ({
      label: `${threads} thread${threads > 1 ? 's' : ''}, ${spinning ? 'spinning' : 'sleeping'}`,
      engine: new OnnxEngine(bytes, [32, 32, 3], { threads, spinning }),
    })),
  );
  const wall = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  const inputs = new Map(BATCHES.map((b) => [b, Float32Array.from({ length: b * 32 * 32 * 3 }, (_, i) => ((i * 7919) % 1000) / 1000)]));
  for (let r = 0; r < rounds; r++)
    // a different variant goes first each round: the first after a switch finds the caches cold
    for (const v of [...variants.slice(r % variants.length), ...variants.slice(0, r % variants.length)])
      for (const batch of BATCHES) {
        const x = inputs.get(batch)!;
        for (let w = 0; w < 3; w++) v.engine.run(x, batch);
        const n = Math.max(2, Math.round((name === 'seed CNN' ? 24 : 160) / batch));
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        for (let i = 0; i < n; i++) v.engine.run(x, batch);
        const c = process.cpuUsage(c0);
        const key = `${v.label}|${batch}`;
        wall.set(key, [...(wall.get(key) ?? []), ((performance.now() - t0) * 1000) / (n * batch)]);
        cpu.set(key, [...(cpu.get(key) ?? []), (c.user + c.system) / (n * batch)]);
      }
  const rows = [['settings', ...BATCHES.map((b) => `batch ${b}: wall / CPU per window`)]];
  for (const v of variants)
    rows.push([
      v.label,
      ...BATCHES.map((b) => `${median(wall.get(`${v.label}|${b}`)!).toFixed(0)} / ${median(cpu.get(`${v.label}|${b}`)!).toFixed(0)} µs`),
    ]);
  console.log(`\n${name} (median over ${rounds} rounds, settings taking turns):`);
  console.log(table(rows));
  for (const v of variants) v.engine.dispose();
}
console.log(`\nafter: ${uptime()}`);
