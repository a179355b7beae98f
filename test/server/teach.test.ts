/**
 * Teaching a running server a sound over HTTP, on a real port with the bundled model: an ingest
 * stream opened before learning keeps running across the switch and then reports the new class;
 * every connection gets the new hello; progress comes as `learn` statuses; the class can be listed
 * and removed. Bad requests (no token, not JSON, not WAV, too short, too few, too many, too big, an
 * unknown label…) get clear errors with codes and change nothing. The sound is a real recording: the
 * doorbell of minetest-mod-homedecor (test/fixtures/doorbell-homedecor.wav; attribution in test/fixtures/README.md).
 */
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resample } from '../../src/audio/resample.ts';
import { encodeWav } from '../../src/audio/wav.ts';
import { framesPerHop, framesPerWindow } from '../../src/config.ts';
import { loadAudio } from '../../src/audio/wav-reader.ts';
import { IngestConnection } from '../../src/client/ingest.ts';
import { Engine } from '../../src/engine/engine.ts';
import { initBackend } from '../../src/model/backend.ts';
import { Classifier } from '../../src/model/classifier.ts';
import { loadModel } from '../../src/model/io.ts';
import { DEFAULT_MODEL_DIR } from '../../src/paths.ts';
import {
  type ClassesBody,
  type ClipBody,
  type EventMessage,
  type HelloMessage,
  type LearnResultBody,
  type PredictionMessage,
  validateHttpBody,
} from '../../src/protocol/index.ts';
import { type ServerOptions, helloFor, startServer } from '../../src/server/server.ts';
import { fixture, tempDir } from '../helpers/fixtures.ts';
import { probe } from './helpers.ts';

/** The bundled model's classes: a background class ("none of these") and its eight sounds. */
const BUNDLED_CLASSES = ['background', 'birds', 'engine', 'fire', 'insects', 'rain', 'speech', 'water', 'wind'];

const TOKEN = 'teach-test-token';
const SR = 16000;
let doorbell: Float32Array;
let tmp: Awaited<ReturnType<typeof tempDir>>;

before(async () => {
  await initBackend('wasm', null);
  doorbell = await loadAudio(fixture('doorbell-homedecor.wav'), SR);
  tmp = await tempDir();
});
after(() => tmp.cleanup());

/** The recording started `shiftS` seconds in (it loops): what a microphone records at another moment. */
const rotated = (x: Float32Array, shiftS: number) => {
  const k = Math.round(shiftS * SR);
  return Float32Array.from(x, (_, i) => x[(i + k) % x.length]!);
};
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const wav16k = (x: Float32Array) => b64(encodeWav(x, SR));

/** A server on the bundled model that learns into its own folder; the engine is its own. */
async function teachingServer(o: Partial<ServerOptions> & { learnDir?: string; limits?: Record<string, number> } = {}) {
  const classifier = new Classifier(await loadModel(DEFAULT_MODEL_DIR));
  classifier.warmUp();
  const engine = new Engine(classifier);
  const learnDir = o.learnDir ?? join(tmp.dir, `learned-${Math.random().toString(36).slice(2)}`);
  const logs: string[] = [];
  const server = await startServer({
    port: 0,
    token: TOKEN,
    hello: () => helloFor(engine.model),
    ingest: { engine },
    learn: { engine, modelDir: DEFAULT_MODEL_DIR, learnDir, ...(o.limits ? { limits: o.limits } : {}) },
    log: (l) => logs.push(l),
    ...o,
  });
  const base = `http://127.0.0.1:${server.port}`;
  return {
    server,
    engine,
    learnDir,
    logs,
    url: `ws://127.0.0.1:${server.port}`,
    /** An HTTP request with the token (unless `token: null`). */
    async api(
      path: string,
      init: { method?: string; json?: unknown; body?: string | Uint8Array; type?: string; token?: string | null } = {},
    ) {
      const headers: Record<string, string> = {};
      if (init.token !== null) headers.authorization = `Bearer ${init.token ?? TOKEN}`;
      if (init.json !== undefined || init.type) headers['content-type'] = init.type ?? 'application/json';
      const res = await fetch(base + path, {
        method: init.method ?? 'GET',
        headers,
        ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : init.body !== undefined ? { body: init.body as BodyInit } : {}),
      });
      return { status: res.status, allow: res.headers.get('allow'), body: (await res.json()) as Record<string, unknown> };
    },
    async close() {
      await server.close();
      engine.dispose();
    },
  };
}

describe('a server that learns', () => {
  let t: Awaited<ReturnType<typeof teachingServer>>;
  before(async () => (t = await teachingServer()));
  after(() => t.close());

  test('learn over HTTP: an ingest stream opened before keeps running and reports the new class; every connection gets the new hello; then it is removed', {
    timeout: 120_000,
  }, async () => {
    const sub = probe(`${t.url}/v1/stream?token=${TOKEN}&types=status,event`);
    const hello0 = (await sub.next((m) => m.type === 'hello')) as HelloMessage;
    assert.deepEqual(hello0.classes, BUNDLED_CLASSES);
    const before0 = (await t.api('/v1/classes')).body as ClassesBody;
    assert.ok(validateHttpBody('classes', before0).ok);
    assert.ok(before0.classes.every((c) => !c.learned));

    const predictions: PredictionMessage[] = [];
    const events: EventMessage[] = [];
    const hellos: HelloMessage[] = [];
    const ingest = await IngestConnection.open({
      url: t.url,
      token: TOKEN,
      streamId: 'hall',
      sampleRateHz: SR,
      format: 's16le',
      onPrediction: (p) => predictions.push(p),
      onEvent: (e) => events.push(e),
      onMessage: (m) => m.type === 'hello' && hellos.push(m),
    });
    await ingest.writeSamples(doorbell);
    await waitFor(() => predictions.length >= 9, 'the first predictions');
    assert.ok(predictions.every((p) => !('doorbell' in p.scores)));

    // three takes of the doorbell, as a microphone records them: other moments of the loop, one at 44.1 kHz
    const takes = [
      { name: 'take 1', wav: wav16k(doorbell) },
      { name: 'take 2', wav: wav16k(rotated(doorbell, 1)) },
      { name: 'take 3', wav: b64(encodeWav(await resample(rotated(doorbell, 2), SR, 44100), 44100)), startMs: 100 },
    ];
    const learned = await t.api('/v1/learn', { method: 'POST', json: { label: 'doorbell', examples: takes } });
    assert.equal(learned.status, 200, JSON.stringify(learned.body));
    const r = learned.body as LearnResultBody;
    assert.ok(validateHttpBody('learnResult', r).ok, validateHttpBody('learnResult', r).ok ? '' : JSON.stringify(r));
    assert.deepEqual(r.classes, [...hello0.classes, 'doorbell']);
    assert.deepEqual(r.examples.files, ['take-1.wav', 'take-2.wav', 'take-3.wav']);
    assert.ok(r.check.examplesOnTop >= 0.9, `on top for ${r.check.examplesOnTop} of its windows`);
    assert.ok(r.check.bankOnTop < 0.05, `takes ${r.check.bankOnTop} of the bank`);
    assert.equal(r.bank, 2000);
    assert.ok(r.modelDir.startsWith(t.learnDir), r.modelDir);
    assert.ok((await stat(join(r.modelDir, 'weights.bin'))).isFile());
    assert.deepEqual(t.engine.classes, r.classes, 'the engine runs the new model');

    // subscribers: learn progress, then the new hello, then the model status
    const hello1 = (await sub.next((m) => m.type === 'hello' && (m.classes as string[]).includes('doorbell'))) as HelloMessage;
    assert.equal(hello1.serverId, hello0.serverId);
    // how far to trust each class: the bundled model's held-out recall, kept for its classes; the learned one has none
    assert.ok(hello0.heldOut && Object.keys(hello0.heldOut.recall).length === BUNDLED_CLASSES.length - 1, JSON.stringify(hello0.heldOut));
    assert.deepEqual(hello1.heldOut, hello0.heldOut);
    const statuses = sub.ofType('status').filter((m) => m.kind === 'learn' || m.kind === 'model');
    const states = statuses.map((m) => (m.kind === 'model' ? 'model' : m.state));
    assert.equal(states[0], 'started');
    assert.ok(states.includes('progress'));
    assert.deepEqual(states.slice(-2).sort(), ['done', 'model'], states.join(' '));
    const progress = statuses.filter((m) => m.state === 'progress').map((m) => m.progress as number);
    assert.deepEqual(
      progress,
      [...progress].sort((a, b) => a - b),
      'progress only grows',
    );
    const model = statuses.find((m) => m.kind === 'model')!;
    assert.deepEqual([model.added, model.removed], [['doorbell'], []]);
    await waitFor(() => hellos.some((h) => h.classes.includes('doorbell')), 'the ingest connection’s new hello');

    // the stream that was open all along now hears the doorbell
    const n = predictions.length;
    await ingest.writeSamples(doorbell);
    await ingest.writeSamples(doorbell);
    await waitFor(() => events.some((e) => e.label === 'doorbell' && e.phase === 'start'), 'a doorbell event');
    const later = predictions.slice(n);
    assert.ok(later.every((p) => 'doorbell' in p.scores));
    assert.ok(
      later.some((p) => p.label === 'doorbell'),
      later.map((p) => p.label).join(' '),
    );

    const listing = (await t.api('/v1/classes')).body as ClassesBody;
    const entry = listing.classes.find((c) => c.label === 'doorbell');
    assert.equal(entry?.learned, true);
    assert.deepEqual(entry?.events, { threshold: 0.5, minDurationMs: 1500 });

    const removed = await t.api('/v1/classes/doorbell', { method: 'DELETE' });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.deepEqual(
      (removed.body as ClassesBody).classes.map((c) => c.label),
      hello0.classes,
    );
    await sub.next((m) => m.type === 'hello' && !(m.classes as string[]).includes('doorbell'));
    await sub.next((m) => m.type === 'status' && m.kind === 'model' && (m.removed as string[])[0] === 'doorbell');
    const summary = await ingest.end();
    assert.ok(summary.windows >= 27, `${summary.windows} windows in one stream`);
    // every doorbell event that started also ended (by itself, or when the class went: model-changed)
    const starts = events.filter((e) => e.label === 'doorbell' && e.phase === 'start').length;
    const ends = events.filter((e) => e.label === 'doorbell' && e.phase === 'end');
    assert.equal(ends.length, starts);
    assert.ok(ends.every((e) => e.reason === undefined || e.reason === 'model-changed'));
    assert.equal((await readdir(t.learnDir)).length, 2, 'one directory per change');
    sub.ws.close();
  });
});

describe('bad teaching requests get clear errors and change nothing', () => {
  let t: Awaited<ReturnType<typeof teachingServer>>;
  before(async () => (t = await teachingServer({ limits: { maxBodyBytes: 512 * 1024, maxRequestsPerSecond: 1000 } })));
  after(() => t.close());

  test('each refusal has its code and HTTP status', { timeout: 60_000 }, async () => {
    const sub = probe(`${t.url}/v1/stream?token=${TOKEN}&types=status`);
    await sub.next((m) => m.type === 'hello');
    const take = wav16k(doorbell);
    const three = [{ wav: take }, { wav: take }, { wav: take }];
    const learn = (json: unknown, extra: { type?: string; token?: string | null } = {}) =>
      t.api('/v1/learn', { method: 'POST', json, ...extra });
    type Answer = Promise<{ status: number; body: Record<string, unknown> }>;
    const cases: [string, () => Answer, number, string, RegExp?][] = [
      ['no token', () => learn({ label: 'x', examples: three }, { token: null }), 401, 'ERR_UNAUTHORIZED'],
      ['no token (listing)', () => t.api('/v1/classes', { token: null }), 401, 'ERR_UNAUTHORIZED'],
      ['wrong token', () => learn({ label: 'x', examples: three }, { token: 'nope' }), 401, 'ERR_UNAUTHORIZED'],
      [
        'not JSON',
        () => t.api('/v1/learn', { method: 'POST', body: '{label:', type: 'application/json' }),
        400,
        'ERR_BAD_MESSAGE',
        /not JSON/,
      ],
      ['not JSON at all', () => t.api('/v1/learn', { method: 'POST', body: 'label=x', type: 'text/plain' }), 415, 'ERR_UNSUPPORTED_MEDIA'],
      ['no examples field', () => learn({ label: 'x' }), 400, 'ERR_BAD_MESSAGE', /examples/],
      [
        'not a WAV',
        () => learn({ label: 'x', examples: [...three.slice(1), { name: 'song.mp3', wav: b64(Buffer.from('ID3 not a wave')) }] }),
        400,
        'ERR_LEARN_INPUT',
        /song\.mp3/,
      ],
      [
        'too short',
        () => learn({ label: 'x', examples: [...three.slice(1), { name: 'blip', wav: wav16k(doorbell.subarray(0, 800)) }] }),
        400,
        'ERR_LEARN_INPUT',
        /50 ms/,
      ],
      ['too few', () => learn({ label: 'x', examples: three.slice(1) }), 400, 'ERR_LEARN_TOO_FEW'],
      [
        'too many',
        () => learn({ label: 'x', examples: Array.from({ length: 21 }, () => ({ wav: wav16k(doorbell.subarray(0, 4000)) })) }),
        400,
        'ERR_LEARN_TOO_MANY',
      ],
      ['too big', () => learn({ label: 'x', examples: Array.from({ length: 5 }, () => ({ wav: take })) }), 413, 'ERR_TOO_LARGE'],
      ['a class it has', () => learn({ label: 'rain', examples: three }), 400, 'ERR_LEARN_LABEL'],
      ['not a name', () => learn({ label: '../x', examples: three }), 400, 'ERR_LEARN_LABEL'],
      [
        'silent',
        () => learn({ label: 'hush', examples: [...three.slice(1), { name: 'hush', wav: wav16k(new Float32Array(SR)) }] }),
        400,
        'ERR_LEARN_SILENT',
        /hush/,
      ],
      ['unknown label to delete', () => t.api('/v1/classes/thunder', { method: 'DELETE' }), 404, 'ERR_UNKNOWN_CLASS'],
      ['a trained class to delete', () => t.api('/v1/classes/rain', { method: 'DELETE' }), 400, 'ERR_LEARN_LABEL', /trained with/],
      ['wrong method', () => t.api('/v1/learn', { method: 'PUT', json: {} }), 405, 'ERR_METHOD'],
    ];
    for (const [what, request, status, code, message] of cases) {
      const r = await request();
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, code, what);
      assert.equal(r.body.type, 'error', what);
      if (message) assert.match(r.body.message as string, message, what);
    }
    assert.equal((await t.api('/v1/learn', { method: 'PUT', json: {} })).allow, 'POST');
    // nothing changed: the model, the folder, no new hello
    assert.deepEqual([...t.engine.classes], BUNDLED_CLASSES);
    assert.deepEqual(await readdir(t.learnDir).catch(() => []), []);
    assert.equal(sub.ofType('hello').length, 1);
    // the refusals that reached learning are reported as failed (a subscriber sees why); none started the worker but silence
    const failed = sub.ofType('status').filter((m) => m.kind === 'learn' && m.state === 'failed');
    assert.ok(failed.some((m) => m.code === 'ERR_LEARN_SILENT'));
    sub.ws.close();
  });

  test('one learning job at a time: the second is refused at once (ERR_LEARN_BUSY)', { timeout: 60_000 }, async () => {
    const take = { wav: wav16k(doorbell.subarray(0, SR)) };
    const first = t.api('/v1/learn', { method: 'POST', json: { label: 'one', examples: [take, take, take] } });
    await waitFor(() => t.server.state === 'running' && t.engine !== undefined, 'the server');
    await new Promise((r) => setTimeout(r, 100));
    const second = await t.api('/v1/learn', { method: 'POST', json: { label: 'two', examples: [take, take, take] } });
    assert.equal(second.status, 409);
    assert.equal(second.body.code, 'ERR_LEARN_BUSY');
    assert.match(second.body.message as string, /learning "one"/);
    assert.equal((await first).status, 200);
    assert.ok(t.engine.classes.includes('one') && !t.engine.classes.includes('two'));
  });
});

test('POST /v1/clip: a WAV file at its own rate, as the model sees it (windows, the ones learning would use, the spectrogram), trimmed', {
  timeout: 60_000,
}, async () => {
  const t = await teachingServer({ limits: { maxRequestsPerSecond: 2 } });
  try {
    const at48k = encodeWav(await resample(doorbell, SR, 48000), 48000);
    const r = await t.api('/v1/clip', { method: 'POST', body: at48k, type: 'audio/wav' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const clip = r.body as ClipBody;
    assert.ok(validateHttpBody('clip', clip).ok);
    assert.equal(clip.sampleRateHz, 48000);
    assert.ok(Math.abs(clip.durationMs - 3000) < 1);
    assert.equal(clip.windows.length, 9, '3 s: 9 windows at 250 ms hops');
    const c = t.engine.features;
    assert.equal(clip.spectrogram.height, c.bands);
    // every STFT frame once: a window's frames, then one hop's per later window
    assert.equal(clip.spectrogram.width, framesPerWindow(c) + 8 * framesPerHop(c));
    assert.equal(Buffer.from(clip.spectrogram.data, 'base64').length, clip.spectrogram.width * clip.spectrogram.height * 3);
    const sound = clip.windows.filter((w) => w.sound).map((w) => w.index);
    assert.ok(sound.length >= 2 && sound.every((i) => i <= 4), `the ring is in the first windows: ${sound}`);
    const trimmed = (await t.api('/v1/clip?startMs=500&endMs=1200', { method: 'POST', body: at48k, type: 'audio/wav' })).body as ClipBody;
    assert.deepEqual([trimmed.startMs, trimmed.endMs, trimmed.padded, trimmed.windows.length], [500, 1200, true, 1]);
    // 2 requests/s, bursts of 4: two more pass, then (within the same second or so) one is refused
    const statuses: number[] = [];
    let refused: Record<string, unknown> | undefined;
    for (let i = 0; i < 10 && !refused; i++) {
      const a = await t.api('/v1/clip', { method: 'POST', body: 'RIFF....', type: 'audio/wav' });
      statuses.push(a.status);
      if (a.status === 429) refused = a.body;
    }
    assert.deepEqual(statuses.slice(0, 2), [400, 400], 'not a WAV file: ERR_LEARN_INPUT');
    assert.equal(refused?.code, 'ERR_RATE_LIMIT', statuses.join(' '));
    assert.ok(statuses.length <= 5, statuses.join(' '));
  } finally {
    await t.close();
  }
});

test('a server without learning answers ERR_LEARN_DISABLED; a learn directory inside the package is refused', async () => {
  const t = await teachingServer({ learn: undefined });
  try {
    const r = await t.api('/v1/classes');
    assert.deepEqual([r.status, r.body.code], [403, 'ERR_LEARN_DISABLED']);
  } finally {
    await t.close();
  }
  await assert.rejects(teachingServer({ learnDir: join(DEFAULT_MODEL_DIR, '..', 'mine') }), { code: 'ERR_LEARN_OUT' });
});

async function waitFor(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
