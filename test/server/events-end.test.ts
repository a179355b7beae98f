/**
 * Every event that starts also ends, on the server's routes: an ingest client that disconnects in the
 * middle of a sound, and a server that shuts down while a sound is going on, give their subscribers the
 * `end` of each open event (with its reason) — a real server on a real port, real WebSocket clients, the
 * tilt model (fire.wav is 'fire').
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encodePcm } from '../../src/audio/pcm.ts';
import { loadAudio } from '../../src/audio/wav-reader.ts';
import { validateServerMessage } from '../../src/protocol/index.ts';
import { REPO_ROOT, tempDir } from '../helpers/fixtures.ts';
import { writeTiltModel } from '../helpers/tilt-model.ts';
import { type Probe, type TestModel, fromDir, probe, testServer } from './helpers.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let model: TestModel;
let fire: Float32Array;
before(async () => {
  tmp = await tempDir();
  await writeTiltModel(join(tmp.dir, 'tilt'));
  model = await fromDir(join(tmp.dir, 'tilt'));
  fire = await loadAudio(join(REPO_ROOT, 'samples/fire.wav'), 16000);
});
after(async () => {
  await model.dispose();
  await tmp.cleanup();
});

async function ingest(url: string, streamId: string): Promise<Probe> {
  const p = probe(`${url}/v1/ingest?streamId=${streamId}&sampleRateHz=16000&format=s16le`);
  await p.next((m) => m.type === 'status' && m.kind === 'stream' && m.state === 'started');
  return p;
}

const eventsOf = (p: Probe, streamId: string) =>
  p
    .ofType('event')
    .filter((e) => e.streamId === streamId)
    .map((e) => [e.label, e.phase, e.reason]);

test('an ingest client that disconnects during a sound: subscribers get its start, then its end (stream-ended), then the ended status', async () => {
  const server = await testServer(model, { ingest: { engine: model.newEngine() } });
  try {
    const sub = probe(`${server.url}/v1/stream`);
    await sub.next((m) => m.type === 'hello');
    const p = await ingest(server.url, 'porch');
    // 6 s of fire, sent at once; the client goes away as soon as the event has started
    p.ws.send(encodePcm(fire, 's16le'));
    p.ws.send(encodePcm(fire, 's16le'));
    await sub.next((m) => m.type === 'event' && m.phase === 'start');
    p.ws.terminate();
    const ended = await sub.next((m) => m.type === 'status' && m.kind === 'stream' && m.state === 'ended');
    assert.deepEqual(eventsOf(sub, 'porch'), [
      ['fire', 'start', undefined],
      ['fire', 'end', 'stream-ended'],
    ]);
    const end = sub.ofType('event').find((e) => e.phase === 'end')!;
    assert.ok(validateServerMessage(end).ok);
    assert.ok(sub.messages.indexOf(end) < sub.messages.indexOf(ended), 'the end comes before the stream is reported ended');
    assert.equal(end.id, (sub.ofType('event')[0]!.id as number) + 1, 'numbered like any event (since resumes it)');
    sub.ws.close();
  } finally {
    await server.close();
  }
});

test('a server shutting down during a sound: subscribers get the end (shutdown) before the shutdown error', async () => {
  const server = await testServer(model, { ingest: { engine: model.newEngine() } });
  const sub = probe(`${server.url}/v1/stream`);
  await sub.next((m) => m.type === 'hello');
  const p = await ingest(server.url, 'kitchen');
  p.ws.send(encodePcm(fire, 's16le'));
  p.ws.send(encodePcm(fire, 's16le'));
  await sub.next((m) => m.type === 'event' && m.phase === 'start');
  await server.close();
  await sub.closed;
  assert.deepEqual(eventsOf(sub, 'kitchen'), [
    ['fire', 'start', undefined],
    ['fire', 'end', 'shutdown'],
  ]);
  const err = sub.ofType('error')[0]!;
  assert.equal(err.code, 'ERR_SHUTDOWN');
  assert.ok(sub.messages.indexOf(sub.ofType('event')[1]!) < sub.messages.indexOf(err));
  // the ingest client itself got its events too
  assert.deepEqual(eventsOf(p, 'kitchen'), eventsOf(sub, 'kitchen'));
});

test('an ingest stream that ends with end mid-sound: the end carries stream-ended', async () => {
  const server = await testServer(model, { ingest: { engine: model.newEngine() } });
  try {
    const p = await ingest(server.url, 'garden');
    p.ws.send(encodePcm(fire, 's16le'));
    p.ws.send(JSON.stringify({ type: 'end' }));
    assert.equal((await p.closed).code, 1000);
    assert.deepEqual(eventsOf(p, 'garden'), [
      ['fire', 'start', undefined],
      ['fire', 'end', 'stream-ended'],
    ]);
  } finally {
    await server.close();
  }
});
