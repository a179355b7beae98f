import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encodePcm } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { readWav } from '../../src/audio/wav.ts';
import { validateServerMessage } from '../../src/protocol/index.ts';
import { REPO_ROOT, noise } from '../helpers/fixtures.ts';
import { IngestStream } from '../../src/server/ingest.ts';
import { type Probe, type TestModel, probe, testServer, tinyModel, until } from './helpers.ts';

let model: TestModel;
let rain: Float32Array;
before(async () => {
  model = await tinyModel();
  const wav = await readWav(join(REPO_ROOT, 'samples/rain.wav'));
  assert.equal(wav.sampleRateHz, 16000);
  rain = wav.samples; // 3 s: 9 windows
});
after(() => model.dispose());

const LABELS = ['hum', 'hiss', 'tick', 'unknown'];

/** Sends `bytes` in frames of `frameBytes`. */
function sendFrames(p: Probe, bytes: Uint8Array, frameBytes: number): void {
  for (let off = 0; off < bytes.length; off += frameBytes) p.ws.send(bytes.subarray(off, Math.min(bytes.length, off + frameBytes)));
}

async function ingest(url: string, streamId: string, rate = 16000, format = 's16le'): Promise<Probe> {
  const p = probe(`${url}/v1/ingest?streamId=${encodeURIComponent(streamId)}&sampleRateHz=${rate}&format=${format}`);
  await p.next((m) => m.type === 'status' && m.kind === 'stream' && m.state === 'started');
  return p;
}

async function finish(p: Probe): Promise<number> {
  p.ws.send(JSON.stringify({ type: 'end' }));
  return (await p.closed).code;
}

test('a real recording streamed in gets its predictions back, for its streamId, and subscribers see them too', async () => {
  const server = await testServer(model);
  try {
    const sub = probe(`${server.url}/v1/stream`);
    await sub.next((m) => m.type === 'hello');
    const p = await ingest(server.url, 'rain-1');
    assert.equal(p.messages[0]?.type, 'hello');
    assert.ok(server.ingestStreams.includes('rain-1'));
    sendFrames(p, encodePcm(rain, 's16le'), 3200); // 100 ms frames
    assert.equal(await finish(p), 1000);
    const preds = p.ofType('prediction');
    assert.deepEqual(
      preds.map((x) => x.index),
      [0, 1, 2, 3, 4, 5, 6, 7, 8],
    );
    for (const x of preds) {
      assert.equal(x.streamId, 'rain-1');
      assert.ok(LABELS.includes(x.label as string), String(x.label));
      assert.ok(validateServerMessage(x).ok);
    }
    const ended = p.ofType('status').find((s) => s.state === 'ended');
    assert.deepEqual(ended, {
      type: 'status',
      kind: 'stream',
      streamId: 'rain-1',
      source: 'ingest',
      sampleRateHz: 16000,
      format: 's16le',
      state: 'ended',
      windows: 9,
    });
    await sub.next((m) => m.type === 'status' && m.state === 'ended');
    assert.deepEqual(sub.ofType('prediction'), preds, 'subscribers got the same predictions');
    assert.deepEqual(server.ingestStreams, []);
    sub.ws.close();
  } finally {
    await server.close();
  }
});

test('other rates are resampled; f32le works; many streams at once share one batched model and keep their own windows', async () => {
  const engine = model.newEngine();
  const queue = engine.inference;
  const server = await testServer(model, { ingest: { engine } });
  try {
    const rain44 = await resample(rain, 16000, 44100);
    const streams = await Promise.all([
      ingest(server.url, 'a'),
      ingest(server.url, 'b', 16000, 'f32le'),
      ingest(server.url, 'c', 44100, 'f32le'),
      ingest(server.url, 'd', 8000, 's16le'),
    ]);
    const [a, b, c, d] = streams as [Probe, Probe, Probe, Probe];
    // interleave the streams' frames, as concurrent clients would
    const bytes = [
      encodePcm(rain, 's16le'),
      encodePcm(rain, 'f32le'),
      encodePcm(rain44, 'f32le'),
      encodePcm(await resample(rain, 16000, 8000), 's16le'),
    ];
    const frames = [3200, 6400, 17640, 1600];
    for (let i = 0; i < 30; i++)
      streams.forEach((p, k) => {
        const off = i * frames[k]!;
        if (off < bytes[k]!.length) p.ws.send(bytes[k]!.subarray(off, off + frames[k]!));
      });
    const codes = await Promise.all(streams.map(finish));
    assert.deepEqual(codes, [1000, 1000, 1000, 1000]);
    for (const [p, id] of [
      [a, 'a'],
      [b, 'b'],
      [c, 'c'],
      [d, 'd'],
    ] as const) {
      const preds = p.ofType('prediction');
      assert.ok(
        preds.every((x) => x.streamId === id),
        `${id} only gets its own predictions`,
      );
      // the resampler is flushed at the end of the stream: 3 s at any rate is 9 windows, the last included
      assert.equal(preds.length, 9, `${id}: ${preds.length} predictions`);
      assert.deepEqual(
        preds.map((x) => x.index),
        preds.map((_, i) => i),
      );
    }
    const scoresA = a.ofType('prediction').map((x) => x.scores);
    assert.deepEqual(
      b.ofType('prediction').map((x) => x.scores),
      scoresA,
      's16le and f32le of the same 16-bit audio classify identically',
    );
    assert.equal(
      queue.stats.items,
      streams.reduce((n, p) => n + p.ofType('prediction').length, 0),
      'every window went through the one shared queue',
    );
    assert.ok(queue.stats.maxBatchSeen > 1, `windows of different streams were batched together (up to ${queue.stats.maxBatchSeen})`);
    assert.deepEqual(server.logs, []);
  } finally {
    await server.close();
  }
});

test('each kind of bad input gets a clear error and close code while a good stream and the server carry on', async () => {
  const server = await testServer(model, { maxFrameBytes: 64 * 1024, maxStreamsPerAddress: 3, maxFramesPerSecond: 50 });
  try {
    const good = await ingest(server.url, 'good');
    const audio = encodePcm(rain, 's16le');
    sendFrames(good, audio.subarray(0, audio.length / 2), 3200);

    const refused = async (path: string, send?: (p: Probe) => void) => {
      const p = probe(`${server.url}${path}`);
      if (send) {
        await p.next((m) => m.type === 'status' && m.kind === 'stream');
        send(p);
      }
      const err = await p.next((m) => m.type === 'error');
      const { code, reason } = await p.closed;
      assert.ok(validateServerMessage(err).ok);
      assert.equal(err.fatal, true);
      assert.equal(reason, err.code, 'the close reason is the error code');
      return { code: err.code, close: code, message: String(err.message) };
    };
    let n = 0;
    const q = (extra: string) => `/v1/ingest?streamId=bad-${++n}&sampleRateHz=16000&format=s16le${extra}`;
    const cases: Record<string, { code: unknown; close: number; message: string }> = {
      'unknown format': await refused('/v1/ingest?streamId=x&sampleRateHz=16000&format=mp3'),
      'unsupported rate': await refused('/v1/ingest?streamId=x&sampleRateHz=12345&format=s16le'),
      'rate not a number': await refused('/v1/ingest?streamId=x&sampleRateHz=fast&format=s16le'),
      'no streamId': await refused('/v1/ingest?sampleRateHz=16000&format=s16le'),
      'streamId in use': await refused('/v1/ingest?streamId=good&sampleRateHz=16000&format=s16le'),
      'odd byte count': await refused(q(''), (p) => p.ws.send(new Uint8Array(3201))),
      'split sample across frames': await refused(
        q('').replace('s16le', 'f32le'),
        (p) => (p.ws.send(new Uint8Array(6)), p.ws.send(new Uint8Array(2))),
      ),
      'oversized frame': await refused(q(''), (p) => p.ws.send(new Uint8Array(100 * 1024))),
      'text instead of audio': await refused(q(''), (p) => p.ws.send('AAAA')),
      'JSON null instead of audio': await refused(q(''), (p) => p.ws.send('null')),
      'frame flood': await refused(q(''), (p) => {
        for (let i = 0; i < 200; i++) p.ws.send(new Uint8Array(2));
      }),
    };
    // the subscriber endpoint case needs data sent after the hello
    const sub = probe(`${server.url}/v1/stream`);
    await sub.next((m) => m.type === 'hello');
    sub.ws.send(new Uint8Array(4));
    const subErr = await sub.next((m) => m.type === 'error');
    cases['binary to the subscriber endpoint'] = { code: subErr.code, close: (await sub.closed).code, message: String(subErr.message) };

    const summary = Object.fromEntries(Object.entries(cases).map(([k, v]) => [k, `${String(v.code)} ${v.close}`]));
    assert.deepEqual(summary, {
      'unknown format': 'ERR_UNKNOWN_FORMAT 1003',
      'unsupported rate': 'ERR_UNSUPPORTED_RATE 1003',
      'rate not a number': 'ERR_BAD_PARAMS 1008',
      'no streamId': 'ERR_BAD_PARAMS 1008',
      'streamId in use': 'ERR_STREAM_EXISTS 1008',
      'odd byte count': 'ERR_PCM_ALIGNMENT 1007',
      'split sample across frames': 'ERR_PCM_ALIGNMENT 1007',
      'oversized frame': 'ERR_FRAME_TOO_LARGE 1009',
      'text instead of audio': 'ERR_EXPECTED_BINARY 1003',
      'JSON null instead of audio': 'ERR_EXPECTED_BINARY 1003',
      'frame flood': 'ERR_RATE_LIMIT 1008',
      'binary to the subscriber endpoint': 'ERR_UNEXPECTED_BINARY 1003',
    });
    assert.match(cases['unsupported rate']!.message, /8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000/);
    assert.match(cases['odd byte count']!.message, /3201 bytes is not a whole number of s16le samples/);

    // a frame far over the limit is refused by ws itself, before any message can be sent: still 1009
    const huge = probe(`${server.url}${q('')}`);
    await huge.next((m) => m.type === 'status' && m.kind === 'stream');
    huge.ws.send(new Uint8Array(300 * 1024));
    assert.equal((await huge.closed).code, 1009);

    // too many streams from one client: this server allows 3 per address
    const extra = [await ingest(server.url, 'x1'), await ingest(server.url, 'x2')];
    const fourth = await refused('/v1/ingest?streamId=x3&sampleRateHz=16000&format=s16le');
    assert.deepEqual([fourth.code, fourth.close], ['ERR_TOO_MANY_STREAMS', 1013]);
    assert.match(fourth.message, /per address/);
    await Promise.all(extra.map(finish));

    // the good stream never noticed
    sendFrames(good, audio.subarray(audio.length / 2), 3200);
    assert.equal(await finish(good), 1000);
    assert.deepEqual(
      good.ofType('prediction').map((x) => x.index),
      [0, 1, 2, 3, 4, 5, 6, 7, 8],
    );
    assert.deepEqual(good.ofType('error'), []);
    assert.deepEqual(server.logs, [], 'no internal errors');
    for (const c of Object.values(cases)) assert.doesNotMatch(c.message, /\n\s+at /, 'no stack traces');
  } finally {
    await server.close();
  }
});

test('server-wide stream and subscriber limits; a server without a model refuses ingest', async () => {
  const server = await testServer(model, { maxStreams: 2, maxSubscribers: 1 });
  const noIngest = await testServer(model, { ingest: undefined });
  try {
    const a = await ingest(server.url, 'a');
    const b = await ingest(server.url, 'b');
    const c = probe(`${server.url}/v1/ingest?streamId=c&sampleRateHz=16000&format=s16le`);
    assert.equal((await c.next((m) => m.type === 'error')).code, 'ERR_TOO_MANY_STREAMS');
    assert.equal((await c.closed).code, 1013);
    const s1 = probe(`${server.url}/v1/stream`);
    await s1.next((m) => m.type === 'hello');
    const s2 = probe(`${server.url}/v1/stream`);
    assert.equal((await s2.next((m) => m.type === 'error')).code, 'ERR_TOO_MANY_CONNECTIONS');
    assert.equal((await s2.closed).code, 1013);
    a.ws.send(encodePcm(noise(1), 's16le'));
    assert.equal(await finish(a), 1000);
    assert.equal(a.ofType('prediction').length, 1);
    b.ws.close();
    s1.ws.close();

    const n = probe(`${noIngest.url}/v1/ingest?streamId=x&sampleRateHz=16000&format=s16le`);
    assert.equal((await n.next((m) => m.type === 'error')).code, 'ERR_INGEST_DISABLED');
    assert.equal((await n.closed).code, 1008);
  } finally {
    await Promise.all([server.close(), noIngest.close()]);
  }
});

test('an ingest stream asks to pause reading while too many windows are in flight, and to resume once they are done', async () => {
  const calls: boolean[] = [];
  const windows: number[] = [];
  let done: (r: { windows: number }) => void;
  const finished = new Promise<{ windows: number }>((r) => (done = r));
  const stream = await IngestStream.open(
    { streamId: 's', sampleRateHz: 16000, format: 's16le' },
    {
      engine: model.newEngine(),
      maxBacklogWindows: 4,
      onPrediction: (p) => windows.push(p.index),
      onEvent: () => {},
      onBackpressure: (paused) => calls.push(paused),
      onDone: (r) => done(r),
    },
  );
  assert.throws(() => stream.write(new Uint8Array(3)), {
    code: 'ERR_PCM_ALIGNMENT',
    message: /3 bytes is not a whole number of s16le samples/,
  });
  const audio = encodePcm(noise(10, 16000, 0.3, 3), 's16le'); // 37 windows
  stream.write(audio.subarray(0, 64000)); // 2 s: 5 windows at once
  assert.deepEqual(calls, [true], 'over the high-water mark: pause');
  await until(() => calls.length === 2);
  assert.deepEqual(calls, [true, false], 'drained: resume');
  stream.write(audio.subarray(64000));
  stream.end();
  assert.deepEqual(await finished, { windows: 37 });
  assert.deepEqual(
    windows,
    Array.from({ length: 37 }, (_, i) => i),
  );
});

test('a client sending much faster than real time is slowed by back-pressure, and nothing is lost', async () => {
  const server = await testServer(model, { ingest: { engine: model.newEngine(), maxBacklogWindows: 4 } });
  try {
    const p = await ingest(server.url, 'fast');
    const audio = encodePcm(noise(20, 16000, 0.3, 7), 's16le'); // 20 s: 77 windows
    sendFrames(p, audio, 16000); // 0.5 s per frame, all at once
    assert.equal(await finish(p), 1000);
    assert.deepEqual(
      p.ofType('prediction').map((x) => x.index),
      Array.from({ length: 77 }, (_, i) => i),
    );
  } finally {
    await server.close();
  }
});
