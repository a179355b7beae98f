import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { resolveFeatureConfig } from '../../src/config.ts';
import { PROTOCOL_VERSION, startServer } from '../../src/server/server.ts';

function nextMessage(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    ws.once('message', (d) => resolve(JSON.parse(d.toString())));
    ws.once('error', reject);
  });
}

test('a real client gets hello, then published messages; close terminates clients', async () => {
  const features = resolveFeatureConfig();
  const server = await startServer({
    port: 0,
    hello: () => ({
      model: { name: 'm', architecture: 'resnet' },
      classes: ['a', 'b'],
      features,
      confidenceThreshold: 0.4,
      streams: ['s'],
    }),
  });
  try {
    assert.equal(server.host, '127.0.0.1');
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    const hello = await nextMessage(ws);
    assert.equal(hello.type, 'hello');
    assert.equal(hello.protocolVersion, PROTOCOL_VERSION);
    assert.deepEqual(hello.classes, ['a', 'b']);
    assert.deepEqual(hello.features, { ...features });
    const msg = nextMessage(ws);
    const prediction = {
      type: 'prediction',
      streamId: 's',
      index: 0,
      startMs: 0,
      endMs: 1000,
      label: 'a',
      confidence: 0.9,
      scores: { a: 0.9, b: 0.1 },
      rmsDb: -12.5,
    };
    server.publish(prediction);
    assert.deepEqual(await msg, prediction);
    assert.equal(server.clientCount, 1);
    const closed = new Promise((r) => ws.once('close', r));
    await server.close();
    await closed;
  } finally {
    await server.close().catch(() => {});
  }
});
