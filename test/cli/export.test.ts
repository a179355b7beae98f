/**
 * `soundee export`: writes model.onnx beside the weights (or where --out says), carrying the
 * fingerprint of the network it came from, checked against TensorFlow.js when onnxruntime-node is
 * installed; a directory that is not a model is one clear error.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FINGERPRINT_KEY, ONNX_FILE, onnxMetadata } from '../../src/model/onnx/model-file.ts';
import { loadOnnxRuntime } from '../../src/model/onnx/runtime.ts';
import { DEFAULT_MODEL_DIR } from '../../src/paths.ts';
import { REPO_ROOT, tempDir } from '../helpers/fixtures.ts';

const absent = await loadOnnxRuntime().then(
  () => false as const,
  (e: Error) => `onnxruntime-node is not available here (${e.message})`,
);

let tmp: Awaited<ReturnType<typeof tempDir>>;
let model: string;
before(async () => {
  tmp = await tempDir();
  model = join(tmp.dir, 'model');
  await cp(DEFAULT_MODEL_DIR, model, { recursive: true });
});
after(() => tmp?.cleanup());

function soundee(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(REPO_ROOT, 'bin/soundee.js'), ...args]);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('export writes model.onnx beside the weights and checks it against TensorFlow.js', { skip: absent }, async () => {
  const r = await soundee(['export', '--model', model]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^soundee: wrote .*model\.onnx \(0\.\d+ MB, opset 13, float32; from network sha256 [0-9a-f]{12}…\); onnxruntime-node 1\.30\.\d+ agrees with TensorFlow\.js within \d\.\de-\d+ on 8 random inputs\n$/,
  );
  const meta = onnxMetadata(await readFile(join(model, ONNX_FILE)));
  assert.match(meta[FINGERPRINT_KEY] ?? '', /^[0-9a-f]{64}$/);
  assert.ok(r.stderr.includes((meta[FINGERPRINT_KEY] ?? '').slice(0, 12)));
});

test('export --out FILE --no-check writes elsewhere without running onnxruntime', async () => {
  const out = join(tmp.dir, 'elsewhere.onnx');
  const r = await soundee(['export', '--model', model, '--out', out, '--no-check']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^soundee: wrote .*elsewhere\.onnx \(0\.\d+ MB, opset 13, float32; from network sha256 [0-9a-f]{12}…\)\n$/);
  assert.match(onnxMetadata(await readFile(out))[FINGERPRINT_KEY] ?? '', /^[0-9a-f]{64}$/);
});

test('a stale or damaged model.onnx is not used: a notice, then the same results as from a fresh export', { skip: absent }, async () => {
  const stale = join(tmp.dir, 'stale');
  await cp(DEFAULT_MODEL_DIR, stale, { recursive: true });
  const sample = join(REPO_ROOT, 'samples/water.wav');
  const fresh = await soundee(['replay', sample, '--json', '--backend', 'onnx', '--model', stale]);
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.doesNotMatch(fresh.stderr, /does not match/);
  await writeFile(join(stale, ONNX_FILE), 'not an onnx model');
  const r = await soundee(['replay', sample, '--json', '--backend', 'onnx', '--model', stale]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /model\.onnx does not match this model's network \(stale: .*\); running a fresh in-memory export instead\. `soundee export --model .*` updates the file\./,
  );
  assert.equal(r.stdout, fresh.stdout);
});

test('export of a directory that is not a model: one line, exit 1', async () => {
  const r = await soundee(['export', '--model', tmp.dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^soundee: error: model metadata not found: .*metadata\.json\n$/);
});
