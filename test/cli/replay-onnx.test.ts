/**
 * `replay --json` on the onnx engine and on wasm: the same event stream, the same labels, scores
 * within 1e-4 (the CLI prints them to four decimals) — the bundled model on all the bundled samples
 * back to back. And without onnxruntime-node (hidden from the process, as when the optional
 * dependency is not installed): `auto` falls back to wasm and says why; `--backend onnx` is one
 * clear error.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeWav } from '../../src/audio/wav.ts';
import { loadAudio } from '../../src/audio/wav-reader.ts';
import { loadOnnxRuntime } from '../../src/model/onnx/runtime.ts';
import { SAMPLES_DIR } from '../../src/paths.ts';
import { REPO_ROOT, tempDir } from '../helpers/fixtures.ts';

const HIDE_ONNXRUNTIME = join(REPO_ROOT, 'test/helpers/hide-onnxruntime.mjs');
const absent = await loadOnnxRuntime().then(
  () => false as const,
  (e: Error) => `onnxruntime-node is not available here (${e.message})`,
);

let tmp: Awaited<ReturnType<typeof tempDir>>;
let wav: string;
before(async () => {
  tmp = await tempDir();
  const parts: Float32Array[] = [];
  for (const f of readdirSync(SAMPLES_DIR)
    .filter((f) => f.endsWith('.wav'))
    .sort())
    parts.push(await loadAudio(join(SAMPLES_DIR, f), 16000));
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((off, p) => (all.set(p, off), off + p.length), 0);
  wav = join(tmp.dir, 'samples.wav');
  await writeWav(wav, all, 16000);
});
after(() => tmp?.cleanup());

/** Runs the real binary (optionally with extra node flags); resolves with exit code and output. */
function run(args: string[], nodeFlags: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.SOUNDEE_BACKEND;
    const p = spawn(process.execPath, [...nodeFlags, join(REPO_ROOT, 'bin/soundee.js'), ...args], { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

type Line = { type: string; label?: string; scores?: Record<string, number>; [k: string]: unknown };
const parse = (stdout: string): Line[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

test('replay --json: the same events, labels and scores (±1e-4) with --backend onnx (--threads 1) as with --backend wasm', {
  skip: absent,
}, async () => {
  const [onnx, wasm] = [
    await run(['replay', wav, '--json', '--backend', 'onnx', '--threads', '1']),
    await run(['replay', wav, '--json', '--backend', 'wasm']),
  ];
  assert.equal(onnx.code, 0, onnx.stderr);
  assert.equal(wasm.code, 0, wasm.stderr);
  assert.match(onnx.stderr, /using the onnx \(onnxruntime-node 1\.30\.\d+, 1 thread\) backend/);
  assert.match(wasm.stderr, /using the wasm/);
  const a = parse(onnx.stdout);
  const b = parse(wasm.stdout);
  const events = (ls: Line[]) => ls.filter((l) => l.type !== 'prediction');
  assert.ok(events(b).length >= 4, `${events(b).length} events: the recording has several sounds`);
  assert.deepEqual(events(a), events(b), 'the event streams are identical');
  const predictions = (ls: Line[]) => ls.filter((l) => l.type === 'prediction');
  assert.equal(predictions(a).length, predictions(b).length);
  assert.ok(predictions(b).length >= 8 * 9, `${predictions(b).length} predictions`);
  predictions(a).forEach((p, i) => {
    const q = predictions(b)[i]!;
    const { scores: sa, confidence: ca, ...restA } = p;
    const { scores: sb, confidence: cb, ...restB } = q;
    assert.deepEqual(restA, restB, `prediction ${i}`);
    for (const [k, v] of Object.entries(sa ?? {}))
      assert.ok(Math.abs(v - sb![k]!) <= 1e-4 + 1e-9, `prediction ${i} ${k}: ${v} vs ${sb![k]}`);
    assert.ok(Math.abs((ca as number) - (cb as number)) <= 1e-4 + 1e-9);
  });
});

test('without onnxruntime-node: auto falls back to wasm and says why; --backend onnx is one clear error', async () => {
  const hidden = ['--import', HIDE_ONNXRUNTIME];
  const auto = await run(['replay', wav, '--json'], hidden);
  assert.equal(auto.code, 0, auto.stderr);
  assert.match(auto.stderr, /using the wasm \(WebAssembly, XNNPACK\) backend \(onnx: onnxruntime-node is not installed/);
  assert.ok(parse(auto.stdout).some((l) => l.type === 'prediction'));
  const onnx = await run(['replay', wav, '--json', '--backend', 'onnx'], hidden);
  assert.equal(onnx.code, 1);
  assert.equal(onnx.stdout, '');
  assert.match(onnx.stderr, /^soundee: error: backend "onnx" requested but onnxruntime-node is not installed .*Use --backend wasm\.\n$/);
});
