/**
 * The MQTT bridge against a real broker (Debian's mosquitto on a free port): what it publishes, the
 * class states across streams, level throttling, set commands, Home Assistant's birth message, a broker
 * that is down at start or restarts, the bounded queue, refused credentials, WebSockets.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { EventControl } from '../../src/events/control.ts';
import { resolveEventOptions } from '../../src/events/tracker.ts';
import { MqttBridge, type MqttBridgeOptions } from '../../src/mqtt/bridge.ts';
import { configSchema, levelSchema, mqttPayloadError } from '../../src/mqtt/schemas.ts';
import { validateServerMessage } from '../../src/protocol/index.ts';
import { type Mosquitto, mosquittoSkipReason, startMosquitto } from '../helpers/mosquitto.ts';
import { watch } from './helpers.ts';

const skip = await mosquittoSkipReason();
const tlsSkip = await mosquittoSkipReason({ tls: true });
const CLASSES = ['water', 'wind'];
const MODEL = { name: 'test-model', architecture: 'cnn' };

/** A bridge for `deviceId` with its own control and a log kept for assertions. */
function bridge(url: string, deviceId: string, more: Partial<MqttBridgeOptions> = {}) {
  const logs: string[] = [];
  const control = new EventControl(resolveEventOptions(CLASSES));
  const b = new MqttBridge({
    url,
    deviceId,
    classes: CLASSES,
    control,
    model: MODEL,
    softwareVersion: '0.1.0',
    reconnectMinMs: 100,
    reconnectMaxMs: 400,
    discoveryResendMinMs: 50,
    discoveryResendMaxMs: 100,
    log: (l) => logs.push(l),
    ...more,
  });
  return { b, control, logs };
}

const ev = (label: string, phase: 'start' | 'end', streamId = 'mic', startMs = 0) => ({
  streamId,
  label,
  phase,
  startMs,
  ...(phase === 'end' ? { endMs: startMs + 3000 } : {}),
  peakConfidence: 0.9,
  meanConfidence: 0.7,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('MQTT bridge with a running broker', { skip }, () => {
  let broker: Mosquitto;
  before(async () => (broker = await startMosquitto()));
  after(() => broker?.cleanup());

  test('connects and publishes availability, discovery, config and OFF states retained; events at QoS 1 as wire messages', async () => {
    const w = await watch(broker.url, ['soundee/d1/#', 'homeassistant/+/+/config']);
    const { b } = bridge(broker.url, 'd1');
    try {
      await b.whenConnected();
      b.publishEvent(ev('water', 'start'));
      b.publishEvent(ev('water', 'end'));
      assert.ok(await b.flush(5000), 'acknowledged');
      await w.next(
        (m) => m.topic === 'soundee/d1/water/state' && m.payload === 'OFF' && w.on('soundee/d1/water/state').length >= 3,
        5000,
        'OFF, ON, OFF',
      );
      assert.deepEqual(w.on('soundee/d1/availability'), ['online']);
      assert.deepEqual(w.on('soundee/d1/water/state'), ['OFF', 'ON', 'OFF']);
      assert.deepEqual(w.on('soundee/d1/wind/state'), ['OFF']);
      const events = w.json('soundee/d1/events');
      assert.deepEqual(
        events.map((e) => [e.id, e.phase]),
        [
          [1, 'start'],
          [2, 'end'],
        ],
      );
      for (const e of events) assert.ok(validateServerMessage(e).ok, `the WebSocket event message: ${JSON.stringify(e)}`);
      assert.ok(w.messages.filter((m) => m.topic === 'soundee/d1/events').every((m) => m.qos === 1));
      const [cfg] = w.json('soundee/d1/config');
      assert.equal(mqttPayloadError(configSchema, cfg), null);
      assert.equal(w.messages.filter((m) => m.topic.startsWith('homeassistant/') && m.topic.includes('/d1_')).length, 2 + 1 + 2 * 2);
      // what a late subscriber (Home Assistant starting after us) finds: the retained messages
      const late = await watch(broker.url, ['soundee/d1/#', 'homeassistant/+/+/config']);
      await sleep(300);
      const retained = late.messages.filter((m) => m.retain);
      assert.deepEqual(
        [
          ...new Set(
            retained
              .filter((m) => m.topic.startsWith('soundee/'))
              .map((m) => `${m.topic}=${m.topic.endsWith('config') ? '{…}' : m.payload}`),
          ),
        ].sort(),
        ['soundee/d1/availability=online', 'soundee/d1/config={…}', 'soundee/d1/water/state=OFF', 'soundee/d1/wind/state=OFF'],
      );
      assert.equal(retained.filter((m) => m.topic.startsWith('homeassistant/') && m.topic.includes('/d1_')).length, 7);
      assert.equal(late.on('soundee/d1/events').length, 0, 'events are not retained');
      await late.close();
    } finally {
      await b.close(3000);
      await w.close();
    }
  });

  test('a class is ON while an event of it is open on any stream, OFF when the last one ends', async () => {
    const w = await watch(broker.url, ['soundee/d2/water/state']);
    const { b } = bridge(broker.url, 'd2');
    try {
      await b.whenConnected();
      await w.next((m) => m.payload === 'OFF');
      b.publishEvent(ev('water', 'start', 'mic-a'));
      b.publishEvent(ev('water', 'start', 'mic-b'));
      b.publishEvent(ev('water', 'end', 'mic-a'));
      await b.flush(3000);
      await sleep(200);
      assert.deepEqual(w.on('soundee/d2/water/state'), ['OFF', 'ON'], 'still ON: mic-b is open');
      b.publishEvent(ev('water', 'end', 'mic-b'));
      await w.next(() => w.on('soundee/d2/water/state').length === 3, 3000);
      assert.deepEqual(w.on('soundee/d2/water/state'), ['OFF', 'ON', 'OFF']);
    } finally {
      await b.close(3000);
      await w.close();
    }
  });

  test('levels: at most one message per interval, the loudest window of it, null for digital silence', async () => {
    const w = await watch(broker.url, ['soundee/d3/level']);
    let now = 1_000_000;
    const { b } = bridge(broker.url, 'd3', { now: () => now });
    try {
      await b.whenConnected();
      b.publishLevel('a', -40, now); // first: published at once
      for (let i = 1; i < 10; i++) b.publishLevel(i === 5 ? 'b' : 'a', i === 5 ? -12.34 : -50, now + i * 100);
      now += 1000;
      b.publishLevel('a', -45, now); // one interval later: the loudest since the last message
      now += 1000;
      b.publishLevel('a', Number.NEGATIVE_INFINITY, now);
      await w.next(() => w.on('soundee/d3/level').length === 3, 3000);
      await sleep(200);
      const levels = w.json<{ streamId: string; rmsDb: number | null; time: string }>('soundee/d3/level');
      assert.deepEqual(
        levels.map((l) => [l.streamId, l.rmsDb]),
        [
          ['a', -40],
          ['b', -12.3],
          ['a', null],
        ],
      );
      for (const l of levels) assert.equal(mqttPayloadError(levelSchema, l), null);
      assert.equal(levels[1]!.time, new Date(1_001_000).toISOString());
    } finally {
      await b.close(3000);
      await w.close();
    }
  });

  test('set commands: a good one changes the settings and is answered on config; bad ones are answered with an error and change nothing', async () => {
    const w = await watch(broker.url, ['soundee/d4/config']);
    const { b, control } = bridge(broker.url, 'd4');
    try {
      await b.whenConnected();
      await w.next(() => true, 3000, 'the first config');
      type Cfg = {
        classes: Record<string, { enabled: boolean; threshold: number; snoozedUntil: string | null }>;
        lastCommand?: { ok: boolean; id?: unknown; error?: { code: string; message: string } };
      };
      const answer = async (payload: string, id: string) => {
        await w.client.publishAsync('soundee/d4/set', payload, { qos: 1 });
        const m = await w.next((m) => (JSON.parse(m.payload) as Cfg).lastCommand?.id === id, 3000, `the answer to ${id}`);
        assert.ok(m.retain === false || m.retain === true);
        return JSON.parse(m.payload) as Cfg;
      };
      const ok = await answer('{"id":"c1","disable":["wind"],"thresholds":{"water":0.6},"snooze":{"water":5}}', 'c1');
      assert.deepEqual(ok.lastCommand?.ok, true);
      assert.equal(ok.classes.wind!.enabled, false);
      assert.equal(ok.classes.water!.threshold, 0.6);
      assert.ok(ok.classes.water!.snoozedUntil !== null);
      assert.equal(control.offReason('wind'), 'disabled');
      const settings = JSON.stringify(control.state());
      for (const [payload, id, code] of [
        ['{"id":"c2","disable":["rain"]}', 'c2', 'ERR_EVENT_CONTROL'],
        ['{"id":"c3","thresholds":{"water":2}}', 'c3', 'ERR_MQTT_COMMAND'],
        ['{"id":"c4","enable":["wind"],"frobnicate":true}', 'c4', 'ERR_MQTT_COMMAND'],
      ] as const) {
        const bad = await answer(payload, id);
        assert.equal(bad.lastCommand?.ok, false);
        assert.equal(bad.lastCommand?.error?.code, code, payload);
        assert.equal(JSON.stringify(control.state()), settings, `${payload} changed nothing`);
        assert.equal(bad.classes.wind!.enabled, false);
      }
      // not JSON at all: answered without an id
      await w.client.publishAsync('soundee/d4/set', '{oops', { qos: 1 });
      const notJson = await w.next(
        (m) => /not JSON/.test((JSON.parse(m.payload) as Cfg).lastCommand?.error?.message ?? ''),
        3000,
        'the not-JSON answer',
      );
      assert.equal(mqttPayloadError(configSchema, JSON.parse(notJson.payload)), null);
      // what a newcomer reads: the settings in force, retained
      const late = await watch(broker.url, ['soundee/d4/config']);
      const kept = JSON.parse((await late.next(() => true, 3000)).payload) as Cfg;
      assert.equal(kept.classes.wind!.enabled, false);
      await late.close();
    } finally {
      await b.close(3000);
      await w.close();
    }
  });

  test('a retained set command is refused (it would run again at every start)', async () => {
    const w = await watch(broker.url, ['soundee/d5/config']);
    await w.client.publishAsync('soundee/d5/set', '{"disable":["wind"]}', { qos: 1, retain: true });
    const { b, control } = bridge(broker.url, 'd5');
    try {
      const m = await w.next((m) => /must not be retained/.test(m.payload), 5000, 'the refusal');
      assert.ok(m);
      assert.equal(control.offReason('wind'), undefined);
    } finally {
      await w.client.publishAsync('soundee/d5/set', '', { qos: 1, retain: true });
      await b.close(3000);
      await w.close();
    }
  });

  test('Home Assistant announcing itself (homeassistant/status online) gets the discovery again after a short delay', async () => {
    const { b } = bridge(broker.url, 'd6');
    await b.whenConnected();
    const w = await watch(broker.url, ['homeassistant/binary_sensor/d6_water/config']);
    try {
      await w.next((m) => m.retain, 3000, 'the retained config');
      await w.client.publishAsync('homeassistant/status', 'online', { qos: 1 });
      const again = await w.next((m) => !m.retain, 3000, 'discovery resent');
      assert.equal((JSON.parse(again.payload) as { unique_id: string }).unique_id, 'soundee_d6_water');
    } finally {
      await b.close(3000);
      await w.close();
    }
  });

  test('--no-discovery: nothing under homeassistant/; a level interval of 0: no level messages', async () => {
    const w = await watch(broker.url, ['homeassistant/+/+/config', 'soundee/d7/availability', 'soundee/d7/level']);
    const { b } = bridge(broker.url, 'd7', { discovery: false, levelIntervalMs: 0 });
    try {
      await b.whenConnected();
      await w.next((m) => m.topic === 'soundee/d7/availability', 3000);
      for (let i = 0; i < 5; i++) b.publishLevel('mic', -20, Date.now() + i * 2000);
      await sleep(300);
      assert.equal(w.messages.filter((m) => m.topic.includes('/d7_')).length, 0);
      assert.equal(w.on('soundee/d7/level').length, 0);
    } finally {
      await b.close(3000);
      await w.close();
    }
  });

  test('close() delivers, publishes offline (retained) and disconnects cleanly', async () => {
    const w = await watch(broker.url, ['soundee/d8/availability', 'soundee/d8/events']);
    const { b } = bridge(broker.url, 'd8');
    await b.whenConnected();
    for (let i = 0; i < 50; i++) b.publishEvent(ev('water', i % 2 ? 'end' : 'start', 'mic', i * 5000));
    assert.equal(await b.close(5000), true);
    assert.equal(b.status().delivered, 50);
    await w.next((m) => m.topic === 'soundee/d8/availability' && m.payload === 'offline', 3000);
    assert.equal(w.on('soundee/d8/events').length, 50);
    await w.close();
  });
});

describe('MQTT bridge when the broker is away', { skip }, () => {
  test('down at start: the bridge keeps trying with back-off, queues events, and publishes them with their ids when the broker comes', async () => {
    const broker = await startMosquitto({ persistence: true });
    // a persistent subscriber, so that what the bridge sends the moment the broker is back is kept for it
    const w = await watch(broker.url, ['soundee/away1/events'], { clientId: 'watcher-away1', clean: false });
    await broker.stop();
    const { b, logs } = bridge(broker.url, 'away1');
    try {
      for (let i = 0; i < 6; i++) b.publishEvent(ev('water', i % 2 ? 'end' : 'start', 'mic', i * 5000));
      await sleep(600);
      const s = b.status();
      assert.deepEqual([s.connected, s.queued, s.dropped], [false, 6, 0]);
      assert.match(s.lastError ?? '', /nothing accepts connections at mqtt:\/\/127\.0\.0\.1:\d+ \(is the broker running\?\)/);
      assert.ok(
        logs.some((l) => /retrying in/.test(l)),
        logs.join('\n'),
      );
      await broker.start();
      await b.whenConnected();
      await w.next(() => w.on('soundee/away1/events').length === 6, 5000, 'six events');
      assert.deepEqual(
        w.json<{ id: number }>('soundee/away1/events').map((e) => e.id),
        [1, 2, 3, 4, 5, 6],
      );
      assert.ok(
        logs.some((l) => /connected .*sending 6 queued events/.test(l)),
        logs.join('\n'),
      );
    } finally {
      await b.close(3000);
      await w.close();
      await broker.cleanup();
    }
  });

  test('a broker that accepts the connection and never answers: a clear line, retried, nothing blocks', async () => {
    // a TCP server that says nothing: no CONNACK ever comes
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const { b, logs } = bridge(`mqtt://127.0.0.1:${port}`, 'silent', { connectTimeoutMs: 300 });
    try {
      const t = performance.now();
      b.publishEvent(ev('water', 'start'));
      assert.ok(performance.now() - t < 50, 'publishing does not wait for the broker');
      await sleep(1200);
      assert.equal(b.connected, false);
      assert.equal(b.status().queued, 1);
      assert.ok(
        logs.some((l) => /no answer from mqtt:\/\/127\.0\.0\.1:\d+ within the connect timeout .*; retrying in/.test(l)),
        logs.join('\n'),
      );
    } finally {
      await b.close(100);
      silent.close();
    }
  });

  test('the queue is bounded: the oldest events go first, counted in the status and the log', async () => {
    const broker = await startMosquitto({ persistence: true });
    const w = await watch(broker.url, ['soundee/away2/events'], { clientId: 'watcher-away2', clean: false });
    await broker.stop();
    const { b, logs } = bridge(broker.url, 'away2', { queueLimit: 4 });
    try {
      for (let i = 0; i < 10; i++) b.publishEvent(ev('water', i % 2 ? 'end' : 'start', 'mic', i * 5000));
      assert.deepEqual([b.status().queued, b.status().dropped], [4, 6]);
      assert.equal(logs.filter((l) => /queue of 4 events is full/.test(l)).length, 1, 'said once, not per event');
      await broker.start();
      await b.whenConnected();
      await w.next(() => w.on('soundee/away2/events').length === 4, 5000);
      assert.deepEqual(
        w.json<{ id: number }>('soundee/away2/events').map((e) => e.id),
        [7, 8, 9, 10],
      );
      assert.ok(
        logs.some((l) => /6 events were dropped while the broker was away/.test(l)),
        logs.join('\n'),
      );
    } finally {
      await b.close(3000);
      await w.close();
      await broker.cleanup();
    }
  });

  test('a broker restart while events flow loses none (each id at least once; the bridge sends them in order)', async () => {
    const broker = await startMosquitto({ persistence: true });
    // a persistent subscriber (clean: false): the broker keeps its messages across its own restart
    const w = await watch(broker.url, ['soundee/away3/events'], { clientId: 'watcher-away3', clean: false });
    const { b } = bridge(broker.url, 'away3');
    // what the bridge writes, in order (a resend after reconnection repeats an earlier id)
    const written: number[] = [];
    (b as unknown as { client: MqttClient }).client.on('packetsend', (p) => {
      if (p.cmd === 'publish' && p.topic === 'soundee/away3/events') written.push((JSON.parse(String(p.payload)) as { id: number }).id);
    });
    try {
      await b.whenConnected();
      let sent = 0;
      const pump = setInterval(() => b.publishEvent(ev('water', sent++ % 2 ? 'end' : 'start', 'mic', sent * 5000)), 10);
      await sleep(300);
      await broker.stop('SIGTERM');
      await sleep(500);
      await broker.start();
      await sleep(500);
      clearInterval(pump);
      assert.ok(await b.flush(10_000), 'everything acknowledged');
      await w.next(() => new Set(w.json<{ id: number }>('soundee/away3/events').map((e) => e.id)).size === sent, 10_000, `${sent} ids`);
      const all = Array.from({ length: sent }, (_, i) => i + 1);
      // the bridge sends every event the first time in id order (resends come later and repeat ids)
      assert.deepEqual([...new Set(written)], all, 'first sends in order');
      // every id arrives at least once (the broker may deliver what it restored after its restart later than newer ones)
      const ids = w.json<{ id: number }>('soundee/away3/events').map((e) => e.id);
      assert.deepEqual(
        [...new Set(ids)].sort((x, y) => x - y),
        all,
        'every id',
      );
      console.log(
        `# bridge restart test: ${sent} events, ${written.length - sent} resent by the bridge, ${ids.length - sent} duplicates received`,
      );
      assert.ok(b.status().connections >= 2, 'it did reconnect');
    } finally {
      await b.close(3000);
      await w.close();
      await broker.cleanup();
    }
  });

  test('wrong credentials: a clear error, retried with back-off, events kept; the right ones connect', async () => {
    const broker = await startMosquitto({ users: { soundee: 's3cret' } });
    const wrong = bridge(`mqtt://soundee:nope@127.0.0.1:${broker.port}`, 'auth1');
    try {
      wrong.b.publishEvent(ev('water', 'start'));
      await sleep(800);
      assert.equal(wrong.b.connected, false);
      assert.match(wrong.b.status().lastError ?? '', /refused the user name or password \(CONNACK [45]: .*SOUNDEE_MQTT_USERNAME/);
      assert.ok(wrong.logs.filter((l) => /CONNACK/.test(l)).length >= 1, wrong.logs.join('\n'));
      assert.ok(!wrong.logs.join('\n').includes('nope'), 'the password is never logged');
      assert.equal(wrong.b.status().queued, 1);
    } finally {
      await wrong.b.close(200);
    }
    const right = bridge(`mqtt://127.0.0.1:${broker.port}`, 'auth2', { username: 'soundee', password: 's3cret' });
    try {
      await right.b.whenConnected();
    } finally {
      await right.b.close(3000);
      await broker.cleanup();
    }
  });

  test("mqtts:// with the broker's CA (--mqtt-ca) connects; without it, a clear TLS error", { skip: tlsSkip }, async () => {
    const broker = await startMosquitto({ tls: true });
    const untrusted = bridge(broker.tlsUrl!, 'tls1');
    try {
      await sleep(800);
      assert.equal(untrusted.b.connected, false);
      assert.match(
        untrusted.b.status().lastError ?? '',
        /TLS with mqtts:\/\/127\.0\.0\.1:\d+ failed: .*give the broker's CA with --mqtt-ca FILE/,
      );
    } finally {
      await untrusted.b.close(100);
    }
    const w = await watch(broker.url, ['soundee/tls2/events']);
    const trusted = bridge(broker.tlsUrl!, 'tls2', { ca: await readFile(broker.caFile!) });
    try {
      await trusted.b.whenConnected();
      trusted.b.publishEvent(ev('wind', 'start'));
      await w.next(() => true, 3000, 'the event, through TLS');
    } finally {
      await trusted.b.close(3000);
      await w.close();
      await broker.cleanup();
    }
  });

  test("ws:// URLs connect through the broker's WebSocket listener", async () => {
    const broker = await startMosquitto({ websockets: true });
    const w = await watch(broker.url, ['soundee/ws1/events']);
    const { b } = bridge(broker.wsUrl!, 'ws1');
    try {
      await b.whenConnected();
      b.publishEvent(ev('wind', 'start'));
      await w.next(() => true, 3000);
    } finally {
      await b.close(3000);
      await w.close();
      await broker.cleanup();
    }
  });
});
