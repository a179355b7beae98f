/**
 * Train/serve drift, checked end to end: the same recording at 44.1 kHz stereo and at 48 kHz stereo
 * sent down every route — `soundee replay` (the real binary, and the chain it runs), `/v1/ingest` (a
 * real server on a real port, a WebSocket client sending the file's mono samples at the file's rate)
 * and `evaluate` (the folder evaluation the command runs) — gives identical model inputs and scores,
 * window for window, the last window included. And a clip shorter than one window gets the one
 * prediction `evaluate` gives it, on every route. The model is the bundled one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { encodePcm } from '../../src/audio/pcm.ts';
import { readWav, writeWav } from '../../src/audio/wav.ts';
import { WavReader, loadAudio } from '../../src/audio/wav-reader.ts';
import { hopSamples, windowSamples } from '../../src/config.ts';
import { type Engine, openEngine } from '../../src/engine/engine.ts';
import { helloFor, startServer } from '../../src/server/server.ts';
import { fromWavReader } from '../../src/stream/sources.ts';
import { evaluateOnFolder } from '../../src/training/evaluate.ts';
import { REPO_ROOT, tempDir } from '../helpers/fixtures.ts';
import { probe } from '../server/helpers.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let engine: Engine;
before(async () => {
  tmp = await tempDir();
  engine = await openEngine({ backend: 'wasm' });
});
after(async () => {
  engine.dispose();
  await tmp.cleanup();
});

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** One route's view of a file: per window, its start, model-input image (base64) and scores (4 decimals, class order). */
interface RouteView {
  startMs: number[];
  images: string[];
  scores: number[][];
}

/** A stereo recording at `rate`: rain on the left, water on the right, `seconds` long (not a whole number of hops). */
async function stereoFile(rate: number, seconds: number, name: string): Promise<string> {
  const left = (await loadAudio(join(REPO_ROOT, 'samples/rain.wav'), rate)).subarray(0, Math.round(seconds * rate));
  const right = (await loadAudio(join(REPO_ROOT, 'samples/water.wav'), rate)).subarray(0, left.length);
  const inter = new Float32Array(left.length * 2);
  for (let i = 0; i < left.length; i++) {
    inter[2 * i] = left[i]! * 0.8;
    inter[2 * i + 1] = right[i]! * 0.8;
  }
  const dir = join(tmp.dir, name.replace('.wav', ''), 'rain'); // evaluate reads class folders
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await writeWav(path, inter, rate, { channels: 2 });
  return path;
}

/** `soundee replay --json`, the real binary: its printed scores. */
function replayCli(file: string): Promise<{ startMs: number[]; scores: number[][] }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(REPO_ROOT, 'bin/soundee.js'), 'replay', file, '--json'], {
      env: { ...process.env, SOUNDEE_BACKEND: 'wasm' },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`replay exited ${code}: ${err}`));
      const preds = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; startMs: number; scores: Record<string, number> })
        .filter((m) => m.type === 'prediction');
      resolve({ startMs: preds.map((p) => p.startMs), scores: preds.map((p) => engine.classes.map((c) => p.scores[c]!)) });
    });
  });
}

/** The chain the replay command runs (WavReader → engine.stream at the file's rate): its images and encoded scores. */
async function replayChain(file: string): Promise<RouteView> {
  const reader = await WavReader.open(file);
  const outs = await lastValueFrom(engine.stream(fromWavReader(reader), 'replay', { sampleRateHz: reader.sampleRateHz }).pipe(toArray()));
  const view: RouteView = { startMs: [], images: [], scores: [] };
  for (const o of outs) {
    if (o.type === 'window') view.images.push(b64(o.rendered.image));
    if (o.type === 'prediction') {
      view.startMs.push(o.message.startMs);
      view.scores.push(engine.classes.map((c) => o.message.scores[c]!));
    }
  }
  return view;
}

/** A real server on a real port; a client streams the file's mono samples (f32le) at the file's rate and subscribes to spectrograms. */
async function ingestRoute(file: string): Promise<RouteView> {
  const server = await startServer({ port: 0, hello: () => helloFor(engine.model), ingest: { engine }, log: () => {} });
  try {
    const url = `ws://127.0.0.1:${server.port}`;
    const sub = probe(`${url}/v1/stream?types=prediction,spectrogram`);
    await sub.next((m) => m.type === 'hello');
    const wav = await readWav(file);
    const p = probe(`${url}/v1/ingest?streamId=parity&sampleRateHz=${wav.sampleRateHz}&format=f32le`);
    await p.next((m) => m.type === 'status' && m.kind === 'stream' && m.state === 'started');
    const bytes = encodePcm(wav.samples, 'f32le');
    for (let o = 0; o < bytes.length; o += 40_000) p.ws.send(bytes.subarray(o, Math.min(bytes.length, o + 40_000)));
    p.ws.send(JSON.stringify({ type: 'end' }));
    await p.closed;
    await sub.next((m) => m.type === 'status' && m.state === 'ended', 30_000).catch(() => undefined);
    const preds = p.ofType('prediction') as { startMs: number; scores: Record<string, number> }[];
    const specs = sub.ofType('spectrogram') as { input: { data: string } }[];
    sub.ws.close();
    return {
      startMs: preds.map((x) => x.startMs),
      images: specs.map((s) => s.input.data),
      scores: preds.map((x) => engine.classes.map((c) => x.scores[c]!)),
    };
  } finally {
    await server.close();
  }
}

/** `evaluate` on a folder holding the file: the images and probabilities of every window (scores rounded as the wire rounds). */
async function evaluateRoute(folder: string): Promise<RouteView> {
  const view: RouteView = { startMs: [], images: [], scores: [] };
  await evaluateOnFolder(engine.model, folder, {
    onWindow: (w) => {
      view.startMs.push((w.window.startSample / engine.features.sampleRateHz) * 1000);
      view.images.push(b64(w.image));
      view.scores.push([...w.probabilities].map(round4));
    },
  });
  return view;
}

for (const rate of [44100, 48000]) {
  test(`${rate / 1000} kHz stereo: replay ≡ /v1/ingest ≡ evaluate — identical model inputs and scores, window for window, the last included`, {
    timeout: 300_000,
  }, async () => {
    const seconds = 3.1;
    const file = await stereoFile(rate, seconds, `rain-${rate}.wav`);
    const n16 = Math.ceil((Math.round(seconds * rate) * 16000) / rate);
    const c = engine.features;
    const windows = Math.floor((n16 - windowSamples(c)) / hopSamples(c)) + 1;
    const chain = await replayChain(file);
    const cli = await replayCli(file);
    const ingest = await ingestRoute(file);
    const evaluate = await evaluateRoute(join(tmp.dir, `rain-${rate}`));
    assert.equal(chain.images.length, windows, `${windows} windows of ${n16} samples at 16 kHz`);
    for (const [name, view] of [
      ['ingest', ingest],
      ['evaluate', evaluate],
    ] as const) {
      assert.equal(view.images.length, windows, `${name}: every window`);
      view.images.forEach((img, i) => {
        assert.equal(img, chain.images[i], `${name}: model input of window ${i} (${view.startMs[i]} ms)`);
      });
    }
    assert.deepEqual(cli.startMs, chain.startMs);
    assert.deepEqual(ingest.startMs, chain.startMs);
    assert.deepEqual(evaluate.startMs, chain.startMs);
    assert.deepEqual(cli.scores, chain.scores, 'soundee replay prints the scores of its chain');
    assert.deepEqual(ingest.scores, chain.scores, 'ingest scores = replay scores');
    assert.deepEqual(evaluate.scores, chain.scores, 'evaluate scores = replay scores');
  });
}

test('a clip shorter than one window: replay, ingest and evaluate give the one prediction evaluate gives it', {
  timeout: 120_000,
}, async () => {
  const dir = join(tmp.dir, 'short', 'rain');
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'short.wav');
  const x = (await loadAudio(join(REPO_ROOT, 'samples/rain.wav'), 44100)).subarray(0, 0.4 * 44100);
  await writeWav(file, x, 44100);
  const evaluate = await evaluateRoute(join(tmp.dir, 'short'));
  assert.equal(evaluate.images.length, 1, 'evaluate pads it to one window');
  const cli = await replayCli(file);
  const chain = await replayChain(file);
  const ingest = await ingestRoute(file);
  assert.deepEqual(cli.scores, evaluate.scores, 'soundee replay: one prediction, as evaluate');
  assert.deepEqual(chain.images, evaluate.images);
  assert.deepEqual(ingest.images, evaluate.images);
  assert.deepEqual(ingest.scores, evaluate.scores);
});
