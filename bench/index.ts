/**
 * `npm run bench [-- --json] [-- --quick]`: Soundee's figures on this machine, each a median over
 * repeats with min–max. Backends run in child processes (one tfjs backend per process).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { benchFeatures } from './features.ts';
import { type InferenceFigures } from './inference.ts';
import { fmt, machine, table } from './lib.ts';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const log = (s: string) => {
  if (!json) console.log(s);
};

const before = machine();
log(`soundee bench — ${before.cpu}, ${before.cores} cores, Node ${before.node}, load average ${before.load1.toFixed(2)} (1 min)${before.load1 > 0.5 * before.cores ? '  ⚠ machine busy: figures will be low and noisy' : ''}`);

const features = await benchFeatures();
log('\nFeature path per window (median over repeats, min–max):');
log(
  table([
    ['stage', 'µs per window'],
    ['STFT frames of one hop (32 frames, each computed once)', fmt(features.stftUs, 'µs', 0)],
    ['dB → colormap image', fmt(features.colorUs, 'µs', 0)],
    ['sharp resize to 32×32×3', fmt(features.resizeUs, 'µs', 0)],
    ['total, streaming (push one hop, render the window)', fmt(features.totalUs, 'µs', 0)],
  ]),
);

const inference: (InferenceFigures | { backend: string; error: string })[] = [];
for (const backend of ['node', 'wasm', 'cpu']) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./inference.ts', import.meta.url)), '--backend', backend, ...(quick || backend === 'cpu' ? ['--quick'] : [])], {
    encoding: 'utf8',
    timeout: 20 * 60_000,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    inference.push(JSON.parse(line));
  } catch {
    inference.push({ backend, error: (r.stderr || 'no output').trim().split('\n').pop()! });
  }
}
log('\nInference per window (untrained networks of each architecture, 8 classes) and replay speed:');
const rows = [['backend', 'architecture', 'params', 'batch 1 latency', 'batched throughput', 'best batch']];
for (const r of inference) {
  if ('error' in r) {
    rows.push([r.backend, `does not load here: ${r.error.slice(0, 90)}`, '', '', '', '']);
    continue;
  }
  for (const [arch, a] of Object.entries(r.archs)) {
    const b64 = a.batched.find((b) => b.batch === 64);
    rows.push([r.backend, arch, String(a.params), fmt(a.batch1Ms, 'ms'), b64 ? `${fmt(b64.imagesPerSec, 'img/s', 0)} @64` : '', `${a.best.batch} (${a.best.imagesPerSec.toFixed(0)} img/s)`]);
  }
}
log(table(rows));
log('');
for (const r of inference) if (!('error' in r)) log(`replay (${r.backend}): bundled model on ${r.replay.seconds} s of the bundled samples, ${r.replay.windows} windows: ${fmt(r.replay.realtimeFactor, '× real time', 1)}`);

const after = machine();
log(`\nload average after: ${after.load1.toFixed(2)}`);
if (json) console.log(JSON.stringify({ machine: { before, after }, features, inference }, null, 1));
