/**
 * The engine, Soundee's one face: a stream of PCM at any rate in, typed outputs out — rendered
 * windows, level-gated predictions encoded once for the wire, events — with every event that starts
 * also ending, whatever ends the stream, and event settings that can change while streams run.
 * The model is the tilt model (test/helpers/tilt-model.ts): windows of fire.wav are 'fire', of
 * water.wav 'water', so events are known.
 */
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Subject, filter, firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { encodeWav } from '../../src/audio/wav.ts';
import { WavReader, concatSamples, loadAudio } from '../../src/audio/wav-reader.ts';
import { resample } from '../../src/audio/resample.ts';
import { Engine, openEngine } from '../../src/engine/engine.ts';
import type { EventOutput, StreamOutput } from '../../src/engine/outputs.ts';
import { encodeEvent, encodePrediction } from '../../src/engine/wire.ts';
import type { EventEndReason } from '../../src/events/tracker.ts';
import { Backlog } from '../../src/stream/operators.ts';
import { fromSamples, fromWavReader } from '../../src/stream/sources.ts';
import { REPO_ROOT, tempDir } from '../helpers/fixtures.ts';
import { writeTiltModel } from '../helpers/tilt-model.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let engine: Engine;
let fire: Float32Array;
let water: Float32Array;
before(async () => {
  tmp = await tempDir();
  await writeTiltModel(join(tmp.dir, 'tilt'));
  engine = await openEngine({ model: join(tmp.dir, 'tilt'), backend: 'wasm' });
  fire = await loadAudio(join(REPO_ROOT, 'samples/fire.wav'), 16000);
  water = await loadAudio(join(REPO_ROOT, 'samples/water.wav'), 16000);
});
after(async () => {
  engine.dispose();
  await tmp.cleanup();
});

const events = (outs: StreamOutput[]) => outs.filter((o): o is EventOutput => o.type === 'event').map((o) => o.event);
const run = (x: Float32Array, rate = 16000, id = 's') =>
  lastValueFrom(engine.stream(fromSamples(x, rate, { chunkMs: 100 }), id, { sampleRateHz: rate }).pipe(toArray()));

test('a stream: started, then per window its image, its gated prediction encoded once, its events; ended last', async () => {
  const scene = concatSamples([fire, new Float32Array(2 * 16000), water]);
  const outs = await run(scene);
  assert.equal(outs[0]!.type, 'started');
  const ended = outs.at(-1)!;
  assert.deepEqual(ended.type === 'ended' && [ended.reason, ended.windows, ended.lastEndMs], ['stream-ended', 29, 8000]);
  const preds = outs.filter((o) => o.type === 'prediction');
  assert.equal(preds.length, 29);
  outs.forEach((o, i) => {
    if (o.type === 'prediction') assert.equal(outs[i - 1]!.type, 'window', 'each prediction follows its rendered window');
  });
  for (const o of preds) {
    if (o.type !== 'prediction') continue;
    assert.deepEqual(o.message, encodePrediction(o.prediction), 'the message is the one encoder’s');
    assert.ok(
      Object.values(o.message.scores).every((v) => Number(v.toFixed(4)) === v),
      `rounded to 4 decimals: ${JSON.stringify(o.message.scores)}`,
    );
  }
  // 2 s of digital silence: the wholly silent windows are gated (unknown, quiet, rmsDb null on the wire)
  const quiet = preds.filter((o) => o.type === 'prediction' && o.quiet);
  assert.ok(quiet.length >= 4, `${quiet.length} quiet windows`);
  for (const o of quiet) assert.ok(o.type === 'prediction' && o.prediction.label === 'unknown' && o.message.rmsDb === null);
  assert.deepEqual(
    events(outs).map((e) => `${e.label} ${e.phase}${e.reason ? ` ${e.reason}` : ''}`),
    ['fire start', 'fire end', 'water start', 'water end stream-ended'],
  );
  for (const o of outs) if (o.type === 'event') assert.deepEqual(o.message, encodeEvent(o.event));
});

test('any rate in: 44.1 kHz and 48 kHz streams are resampled by the rule and keep their last window', async () => {
  const base = await run(water);
  for (const rate of [44100, 48000, 8000]) {
    const x = await resample(water, 16000, rate);
    const outs = await run(x, rate);
    const preds = outs.filter((o) => o.type === 'prediction');
    assert.equal(preds.length, base.filter((o) => o.type === 'prediction').length, `${rate} Hz: every window, the last included`);
    assert.deepEqual(
      preds.map((o) => o.type === 'prediction' && o.prediction.label),
      preds.map(() => 'water'),
    );
  }
});

test('a clip shorter than one window gives one prediction (the pad rule)', async () => {
  const outs = await run(fire.subarray(0, 6000));
  assert.equal(outs.filter((o) => o.type === 'prediction').length, 1);
  const p = outs.find((o) => o.type === 'prediction');
  assert.ok(p?.type === 'prediction' && p.prediction.startMs === 0 && p.prediction.endMs === 1000);
});

/** A live stream: chunks pushed by the test; resolves the outputs once it completes or fails. */
function live() {
  const pcm = new Subject<Float32Array>();
  const stop = new Subject<EventEndReason>();
  const outs: StreamOutput[] = [];
  let error: unknown;
  const done = new Promise<void>((resolve) => {
    engine.stream(pcm, 'live', { sampleRateHz: 16000, stop }).subscribe({
      next: (o) => outs.push(o),
      error: (e) => {
        error = e;
        resolve();
      },
      complete: () => resolve(),
    });
  });
  const started = () =>
    new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (events(outs).some((e) => e.phase === 'start')) {
          clearInterval(t);
          resolve();
        }
      }, 5);
    });
  return { pcm, stop, outs, done, started, error: () => error };
}

test('stopped mid-sound: the open event ends with reason stopped, then ended', async () => {
  const s = live();
  s.pcm.next(fire);
  s.pcm.next(fire.subarray(0, 8000));
  await s.started();
  s.stop.next('stopped');
  await s.done;
  assert.deepEqual(
    events(s.outs).map((e) => [e.label, e.phase, e.reason]),
    [
      ['fire', 'start', undefined],
      ['fire', 'end', 'stopped'],
    ],
  );
  const last = s.outs.at(-1)!;
  assert.ok(last.type === 'ended' && last.reason === 'stopped');
});

test('a failing source: open events end with reason error before the error', async () => {
  const s = live();
  s.pcm.next(concatSamples([fire, fire]));
  await s.started();
  await new Promise((r) => setTimeout(r, 50));
  s.pcm.error(new Error('the microphone caught fire'));
  await s.done;
  assert.match(String(s.error()), /caught fire/);
  assert.deepEqual(
    events(s.outs).map((e) => [e.phase, e.reason]),
    [
      ['start', undefined],
      ['end', 'error'],
    ],
  );
  const last = s.outs.at(-1)!;
  assert.ok(last.type === 'ended' && last.reason === 'error');
});

test('event settings change at run time: a class disabled mid-event ends now (reason disabled), on the stream and on engine.outputs', async () => {
  const hub: StreamOutput[] = [];
  const sub = engine.outputs.subscribe((o) => hub.push(o));
  const s = live();
  try {
    s.pcm.next(concatSamples([fire, fire]));
    await s.started();
    engine.setEventOptions({ backgroundClasses: ['fire'] });
    assert.deepEqual(engine.eventSettings.tracked, ['water']);
    assert.deepEqual(
      events(s.outs).map((e) => [e.label, e.phase, e.reason]),
      [
        ['fire', 'start', undefined],
        ['fire', 'end', 'disabled'],
      ],
    );
    s.pcm.next(fire);
    s.pcm.complete();
    await s.done;
    assert.equal(events(s.outs).length, 2, 'fire, now background, starts nothing more');
    assert.deepEqual(events(hub.filter((o) => o.streamId === 'live')), events(s.outs), 'the hub saw the same events');
    assert.throws(() => engine.setEventOptions({ threshold: 7 }), { code: 'ERR_EVENT_OPTIONS' });
    assert.deepEqual(engine.eventSettings.tracked, ['water'], 'a refused change changes nothing');
  } finally {
    sub.unsubscribe();
    engine.setEventOptions({});
  }
  assert.deepEqual(engine.eventSettings.tracked, ['fire', 'water']);
});

test("the engine's event settings reach every new stream: background classes and per-class thresholds", async () => {
  const e = new Engine(engine.model, { ownsModel: false, events: { backgroundClasses: ['fire'] } });
  const scene = concatSamples([fire, new Float32Array(2 * 16000), water]);
  const outs = await lastValueFrom(e.stream(fromSamples(scene, 16000), 's', { sampleRateHz: 16000 }).pipe(toArray()));
  assert.deepEqual(
    events(outs).map((x) => `${x.label} ${x.phase}`),
    ['water start', 'water end'],
    'fire is a background class: never an event',
  );
  e.setEventOptions({ perClass: { water: { threshold: 1 } }, backgroundClasses: [] });
  const again = await lastValueFrom(e.stream(fromSamples(scene, 16000), 's', { sampleRateHz: 16000 }).pipe(toArray()));
  assert.deepEqual(
    events(again).map((x) => `${x.label} ${x.phase}`),
    ['fire start', 'fire end'],
    "water's threshold of 1 is never reached",
  );
  e.dispose();
});

test('a disposed engine refuses new streams', async () => {
  const e = new Engine(engine.model, { ownsModel: false });
  e.dispose();
  await assert.rejects(firstValueFrom(e.stream(fromSamples(fire, 16000), 'x', { sampleRateHz: 16000 }).pipe(filter(() => true))), {
    code: 'ERR_ENGINE_DISPOSED',
  });
});

test('a long file streams: the first prediction comes with a bounded part of the file read (replay’s chain and back-pressure)', async () => {
  // 5 minutes of 48 kHz stereo 16-bit (55 MiB); before files were streamed, all of it was read, decoded and resampled first
  const rate = 48000;
  const seconds = 300;
  const one = await resample(fire, 16000, rate);
  const frames = seconds * rate;
  const pcm = new Int16Array(frames * 2);
  for (let i = 0; i < frames; i++) pcm[2 * i] = pcm[2 * i + 1] = Math.round(one[i % one.length]! * 20000);
  const header = encodeWav(new Float32Array(0), rate, { channels: 2 });
  const path = join(tmp.dir, 'long.wav');
  const fh = await open(path, 'w');
  const dv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  dv.setUint32(4, 36 + pcm.byteLength, true);
  dv.setUint32(40, pcm.byteLength, true);
  await fh.write(header.subarray(0, 44));
  await fh.write(new Uint8Array(pcm.buffer));
  await fh.close();
  const reader = await WavReader.open(path);
  const total = frames * 4;
  const backlog = new Backlog();
  let readAtFirst = -1;
  const outs = engine.stream(fromWavReader(reader, { gate: backlog }), 'long', { sampleRateHz: rate, backlog });
  await firstValueFrom(outs.pipe(filter((o) => o.type === 'prediction'))).then(() => (readAtFirst = reader.bytesRead));
  await reader.close();
  assert.ok(readAtFirst > 0 && readAtFirst < total / 2, `${readAtFirst} of ${total} bytes read at the first prediction`);
});
