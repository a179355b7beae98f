/** Late subscribers learn the current state: the latest status per (streamId, kind) follows their hello. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { resolveFeatureConfig } from '../../src/config.ts';
import { type SoundeeServer, startServer } from '../../src/server/server.ts';
import { opened, probe } from './helpers.ts';

let server: SoundeeServer;
let url: string;
before(async () => {
  server = await startServer({
    port: 0,
    log: () => {},
    hello: () => ({
      model: { name: 't', architecture: 't' },
      classes: ['a', 'b'],
      features: resolveFeatureConfig(),
      confidenceThreshold: 0.4,
      streams: ['mic'],
    }),
  });
  url = `ws://127.0.0.1:${server.port}/v1/stream`;
});
after(() => server.close());

/** Connects, and returns every message up to the answer to a ping (everything the server queued on connecting). */
async function connectAndSettle(query = ''): Promise<{ messages: Record<string, unknown>[]; close: () => void }> {
  const p = probe(`${url}${query}`);
  await opened(p.ws);
  p.ws.send(JSON.stringify({ type: 'ping', id: 'settle' }));
  await p.next((m) => m.type === 'pong');
  return { messages: p.messages.filter((m) => m.type !== 'pong'), close: () => p.ws.close() };
}

const summary = (ms: Record<string, unknown>[]) =>
  ms.map((m) => (m.type === 'status' ? `${m.kind}:${m.streamId ?? '-'}:${m.state ?? ''}` : String(m.type)));

test('a new subscriber gets hello, then the latest status per stream and kind, in publishing order, through its filter', async () => {
  server.publishStatus({ kind: 'stream', streamId: 'mic', state: 'started', source: 'sox' });
  server.publishStatus({ kind: 'recorder', streamId: 'mic', state: 'recorder-started', level: 'info', message: 'recording', pid: 1 });
  server.publishStatus({ kind: 'recorder', streamId: 'other', state: 'listening', level: 'info', message: 'listening' });
  server.publishStatus({ kind: 'recorder', streamId: 'mic', state: 'listening', level: 'info', message: 'listening', originMs: 1 });
  server.publishStatus({ kind: 'battery', level: 0.5 }); // an app's own kind, no stream
  // an ingest-like stream that has ended is forgotten with its statuses
  server.publishStatus({ kind: 'stream', streamId: 'gone', state: 'started', source: 'ingest' });
  server.publishStatus({ kind: 'recorder', streamId: 'gone', state: 'listening', level: 'info', message: 'listening' });
  server.publishStatus({ kind: 'stream', streamId: 'gone', state: 'ended', source: 'ingest', windows: 3 });

  const all = await connectAndSettle();
  assert.deepEqual(summary(all.messages), [
    'hello',
    'stream:mic:started',
    'recorder:other:listening',
    'recorder:mic:listening',
    'battery:-:',
  ]);
  assert.equal(all.messages[3]?.originMs, 1, 'the message as it was published');
  all.close();

  const other = await connectAndSettle('?streams=other');
  assert.deepEqual(
    summary(other.messages),
    ['hello', 'recorder:other:listening', 'battery:-:'],
    'a status without a streamId passes any stream filter',
  );
  other.close();

  const eventsOnly = await connectAndSettle('?types=event');
  assert.deepEqual(summary(eventsOnly.messages), ['hello']);
  eventsOnly.close();
});

test('held statuses come before a since replay and its resume status; a later one arrives once', async () => {
  const p = probe(`${url}?since=0`);
  await opened(p.ws);
  await p.next((m) => m.type === 'status' && m.kind === 'resume');
  const kinds = p.messages.map((m) => (m.type === 'status' ? String(m.kind) : String(m.type)));
  assert.equal(kinds[0], 'hello');
  assert.equal(kinds.at(-1), 'resume');
  assert.ok(kinds.indexOf('recorder') < kinds.indexOf('resume'));
  const before = p.messages.length;
  server.publishStatus({ kind: 'recorder', streamId: 'mic', state: 'silence', level: 'warning', message: 'silent', active: true });
  await p.next((m) => m.state === 'silence');
  assert.equal(p.messages.length, before + 1);
  p.ws.close();
});
