/**
 * `--mqtt` as a user runs it: real `soundee` processes publishing to a real mosquitto.
 * - the "done when": `soundee replay samples/water.wav --mqtt … --device-id kitchen` publishes
 *   discovery, availability, water ON then OFF and the events (and mosquitto_sub shows the retained ones);
 * - the last will when the process is killed;
 * - `serve` with an app streaming audio in: the same event ids on WebSocket and MQTT, /v1/info, a `set`
 *   command reaching the event layer, and a broker restart mid-stream that loses no event;
 * - refused credentials: a clear error and the pipeline runs on; credentials from the environment.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadAudio } from '../../src/audio/wav-reader.ts';
import { IngestConnection } from '../../src/client/ingest.ts';
import { buildProgram } from '../../src/cli/main.ts';
import type { EventMessage, HelloMessage } from '../../src/protocol/index.ts';
import { REPO_ROOT, tempDir } from '../helpers/fixtures.ts';
import { type Mosquitto, mosquittoSkipReason, startMosquitto } from '../helpers/mosquitto.ts';
import { writeTiltModel } from '../helpers/tilt-model.ts';
import { watch } from './helpers.ts';

const skip = await mosquittoSkipReason();
const WATER = join(REPO_ROOT, 'samples/water.wav');

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts the real CLI. */
function soundee(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/soundee.js'), ...args], {
    env: { ...process.env, SOUNDEE_BACKEND: 'wasm', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('help lists the MQTT options on listen, replay and serve', () => {
  const program = buildProgram();
  for (const name of ['listen', 'replay', 'serve']) {
    const help = program.commands.find((c) => c.name() === name)!.helpInformation();
    for (const opt of [
      '--mqtt <url>',
      '--mqtt-prefix',
      '--device-id',
      '--no-discovery',
      '--mqtt-ca',
      '--mqtt-queue',
      '--mqtt-level-interval',
    ])
      assert.ok(help.includes(opt), `${name} ${opt}`);
    assert.match(help, /SOUNDEE_MQTT_USERNAME/);
  }
});

describe('soundee --mqtt against a real broker', { skip }, () => {
  let broker: Mosquitto;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let tilt: string;
  before(async () => {
    broker = await startMosquitto({ persistence: true });
    tmp = await tempDir();
    tilt = join(tmp.dir, 'tilt'); // calls fire.wav 'fire' and water.wav 'water' (see tilt-model.ts)
    await writeTiltModel(tilt);
  });
  after(async () => {
    await broker?.cleanup();
    await tmp?.cleanup();
  });

  test('replay samples/water.wav --device-id kitchen: discovery, availability, water ON then OFF, the events; retained state for newcomers', {
    timeout: 90_000,
  }, async () => {
    const w = await watch(broker.url, ['soundee/kitchen/#', 'homeassistant/+/+/config']);
    try {
      // the bundled model's own water threshold (0.90, chosen for few false alarms) is above what the 3-s
      // sample's smoothed probability reaches; 0.5 gives the water event the MQTT side is tested with
      const run = soundee(['replay', WATER, '--json', '--event-threshold', '0.5', '--mqtt', broker.url, '--device-id', 'kitchen']);
      assert.equal(await run.exited, 0, run.stderr());
      await w.next((m) => m.topic === 'soundee/kitchen/availability' && m.payload === 'offline', 5000, 'offline at the end');
      // discovery: 8 binary sensors (the bundled model's classes), the level sensor, a switch and a number per class
      const discovery = w.messages.filter((m) => m.topic.startsWith('homeassistant/') && m.topic.includes('/kitchen_'));
      assert.equal(discovery.filter((m) => m.topic.startsWith('homeassistant/binary_sensor/')).length, 8);
      assert.equal(discovery.length, 8 + 1 + 16);
      const water = JSON.parse(discovery.find((m) => m.topic === 'homeassistant/binary_sensor/kitchen_water/config')!.payload);
      assert.deepEqual(
        [water.device_class, water.state_topic, water.availability_topic, water.unique_id],
        ['sound', 'soundee/kitchen/water/state', 'soundee/kitchen/availability', 'soundee_kitchen_water'],
      );
      assert.deepEqual(w.on('soundee/kitchen/availability'), ['online', 'offline']);
      assert.deepEqual(w.on('soundee/kitchen/water/state'), ['OFF', 'ON', 'OFF']);
      assert.deepEqual(w.on('soundee/kitchen/rain/state'), ['OFF']);
      // the events: the same messages --json printed, ids included
      const printed = run
        .stdout()
        .split('\n')
        .filter((l) => l.includes('"type":"event"'))
        .map((l) => JSON.parse(l) as EventMessage);
      const published = w.json<EventMessage>('soundee/kitchen/events');
      assert.deepEqual(
        published.map((e) => [e.id, e.label, e.phase, e.startMs, e.endMs]),
        [
          [1, 'water', 'start', 0, undefined],
          [2, 'water', 'end', 0, 3000],
        ],
      );
      assert.deepEqual(published, printed);
      assert.ok(w.on('soundee/kitchen/level').length >= 1, 'a level message');
      assert.match(run.stderr(), /mqtt: connected to mqtt:\/\/127\.0\.0\.1:\d+/);

      // what `mosquitto_sub -t 'soundee/#' -v` shows a newcomer: the retained messages
      const retained = await new Promise<string>((resolve) =>
        execFile('mosquitto_sub', ['-p', String(broker.port), '-t', 'soundee/kitchen/#', '-v', '--retained-only', '-W', '2'], (_e, out) =>
          resolve(String(out)),
        ),
      );
      const lines = retained.split('\n').filter(Boolean);
      assert.ok(lines.includes('soundee/kitchen/availability offline'), retained);
      assert.ok(lines.includes('soundee/kitchen/water/state OFF'), retained);
      assert.ok(
        lines.some((l) => l.startsWith('soundee/kitchen/config {')),
        retained,
      );
      assert.ok(!lines.some((l) => l.startsWith('soundee/kitchen/events')), 'events are not retained');
    } finally {
      await w.close();
    }
  });

  test('the last will: a killed process is marked offline by the broker', { timeout: 60_000 }, async () => {
    const w = await watch(broker.url, ['soundee/killed/availability']);
    const run = soundee(['replay', WATER, '--realtime', '--mqtt', broker.url, '--device-id', 'killed', '--no-discovery']);
    try {
      await w.next((m) => m.payload === 'online', 30_000, 'online');
      run.child.kill('SIGKILL');
      await run.exited;
      await w.next((m) => m.payload === 'offline' && !m.retain, 10_000, 'offline (the will)');
      assert.deepEqual(w.on('soundee/killed/availability'), ['online', 'offline']);
    } finally {
      run.child.kill('SIGKILL');
      await w.close();
    }
  });

  test('serve: ingest events on MQTT with their WebSocket ids, /v1/info, set commands, and a broker restart mid-stream that loses none', {
    timeout: 120_000,
  }, async () => {
    // a persistent subscriber: what is published while it is reconnecting after the restart is kept for it
    const w = await watch(broker.url, ['soundee/srv/#'], { clientId: 'watcher-srv', clean: false });
    const run = soundee(['serve', '--port', '0', '--model', tilt, '--mqtt', broker.url, '--device-id', 'srv', '--min-duration', '1000']);
    let ingest: IngestConnection | undefined;
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const t = setInterval(() => {
          const m = /dashboard at http:\/\/127\.0\.0\.1:(\d+)\//.exec(run.stderr());
          if (m) {
            clearInterval(t);
            resolve(Number(m[1]));
          }
        }, 50);
        void run.exited.then((code) => reject(new Error(`serve exited (${code}): ${run.stderr()}`)));
      });
      await w.next((m) => m.topic === 'soundee/srv/availability' && m.payload === 'online', 20_000, 'online');
      const info = async () => (await (await fetch(`http://127.0.0.1:${port}/v1/info`)).json()) as HelloMessage;
      const i1 = await info();
      assert.deepEqual([i1.mqtt?.connected, i1.mqtt?.deviceId, i1.mqtt?.clientId], [true, 'srv', 'soundee-srv']);

      // a set command reaches the event layer: no fire events while fire is disabled
      const setAndWait = async (cmd: object, id: string) => {
        await w.client.publishAsync('soundee/srv/set', JSON.stringify({ ...cmd, id }), { qos: 1 });
        await w.next(
          (m) => m.topic === 'soundee/srv/config' && (JSON.parse(m.payload) as { lastCommand?: { id?: string } }).lastCommand?.id === id,
          5000,
          id,
        );
      };
      await setAndWait({ disable: ['fire'] }, 'off');

      const fire = await loadAudio(join(REPO_ROOT, 'samples/fire.wav'), 16000);
      const water = await loadAudio(join(REPO_ROOT, 'samples/water.wav'), 16000);
      const wsEvents: EventMessage[] = [];
      ingest = await IngestConnection.open({
        url: `ws://127.0.0.1:${port}`,
        streamId: 'kitchen-mic',
        sampleRateHz: 16000,
        format: 's16le',
        onEvent: (e) => wsEvents.push(e),
      });
      const until = async (n: number, what: string) => {
        const deadline = Date.now() + 20_000;
        while (wsEvents.length < n && Date.now() < deadline) await sleep(50);
        assert.ok(wsEvents.length >= n, `${what}: ${wsEvents.length} events so far`);
      };
      await ingest.writeSamples(fire);
      await ingest.writeSamples(water);
      await ingest.writeSamples(fire); // ends water
      await until(2, 'water while fire is disabled');
      assert.deepEqual(
        wsEvents.map((e) => [e.label, e.phase]),
        [
          ['water', 'start'],
          ['water', 'end'],
        ],
        'fire raised no event while disabled',
      );
      await setAndWait({ enable: ['fire'] }, 'on');

      // the broker goes away (a service restart: SIGTERM, persistence saved) while the stream goes on
      await broker.stop('SIGTERM');
      const before = wsEvents.length;
      for (const chunk of [fire, water, fire, water]) await ingest.writeSamples(chunk);
      await until(before + 4, 'events while the broker is away');
      const away = await info();
      assert.equal(away.mqtt?.connected, false);
      assert.ok((away.mqtt?.queued ?? 0) >= 1, `events queued: ${JSON.stringify(away.mqtt)}`);
      await broker.start();
      const deadline = Date.now() + 20_000;
      while (!(await info()).mqtt?.connected && Date.now() < deadline) await sleep(100);
      await ingest.writeSamples(fire); // after the restart: live again, fire ON
      await ingest.end();

      // every event the app saw over WebSocket reaches MQTT with the same id, at least once
      const ids = wsEvents.map((e) => e.id);
      const mqttIds = () => new Set(w.json<EventMessage>('soundee/srv/events').map((e) => e.id));
      await w.next(() => ids.every((id) => mqttIds().has(id)), 20_000, `ids ${ids.join(',')} on MQTT`);
      const byId = new Map(w.json<EventMessage>('soundee/srv/events').map((e) => [e.id, e]));
      for (const e of wsEvents) assert.deepEqual(byId.get(e.id), e, `event ${e.id} is the same message on both`);
      const all = w.json<EventMessage>('soundee/srv/events').map((e) => e.id);
      console.log(`# broker restart: ${ids.length} events, ${all.length} MQTT deliveries (${all.length - new Set(all).size} duplicates)`);
      assert.ok(w.on('soundee/srv/level').length >= 1, 'levels from the ingest stream');
      assert.ok(w.on('soundee/srv/fire/state').includes('ON'));
      const after = await info();
      assert.deepEqual([after.mqtt?.connected, after.mqtt?.dropped, after.mqtt?.queued], [true, 0, 0]);
      assert.ok((after.mqtt?.connections ?? 0) >= 2);
      assert.match(run.stderr(), /mqtt: connected again to/);
    } finally {
      ingest?.abort();
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0, run.stderr());
      await w.next((m) => m.topic === 'soundee/srv/availability' && m.payload === 'offline', 5000, 'offline').catch(() => undefined);
      await w.client.endAsync(true);
    }
    assert.equal(w.on('soundee/srv/availability').at(-1), 'offline');
  });
});

describe('soundee --mqtt with authentication', { skip }, () => {
  let broker: Mosquitto;
  before(async () => (broker = await startMosquitto({ users: { soundee: 's3cret' } })));
  after(() => broker?.cleanup());

  test('wrong credentials: one clear error, the pipeline runs to the end, exit 0; the right ones from the environment connect', {
    timeout: 90_000,
  }, async () => {
    // --event-threshold 0.5: the sample's water event (the bundled model's own water threshold is 0.90)
    const bad = soundee([
      'replay',
      WATER,
      '--event-threshold',
      '0.5',
      '--mqtt',
      `mqtt://soundee:wrong@127.0.0.1:${broker.port}`,
      '--device-id',
      'auth',
    ]);
    assert.equal(await bad.exited, 0, bad.stderr());
    assert.match(bad.stdout(), /■ water ended: 0\.00 s–3\.00 s/, 'the events were still detected and printed');
    assert.match(
      bad.stderr(),
      /mqtt: the broker at mqtt:\/\/127\.0\.0\.1:\d+ refused the user name or password \(CONNACK 5: not authorized\)/,
    );
    assert.match(bad.stderr(), /2 events were not delivered/);
    assert.doesNotMatch(bad.stderr(), /wrong/, 'the password is never printed');

    const w = await watch(broker.url, ['soundee/auth/events'], { username: 'soundee', password: 's3cret' });
    try {
      const good = soundee(
        ['replay', WATER, '--event-threshold', '0.5', '--mqtt', `mqtt://127.0.0.1:${broker.port}`, '--device-id', 'auth'],
        {
          SOUNDEE_MQTT_USERNAME: 'soundee',
          SOUNDEE_MQTT_PASSWORD: 's3cret',
        },
      );
      assert.equal(await good.exited, 0, good.stderr());
      await w.next(() => w.on('soundee/auth/events').length === 2, 5000, 'the two events');
    } finally {
      await w.close();
    }
  });

  test('a bad --mqtt URL or device id is a usage error (exit 2) before anything runs', { timeout: 60_000 }, async () => {
    const r1 = soundee(['replay', WATER, '--mqtt', 'http://127.0.0.1:1']);
    assert.equal(await r1.exited, 2);
    assert.match(r1.stderr(), /--mqtt: unsupported broker URL scheme "http:"/);
    const r2 = soundee(['replay', WATER, '--mqtt', broker.url, '--device-id', 'Kitchen 1']);
    assert.equal(await r2.exited, 2);
    assert.match(r2.stderr(), /device id "Kitchen 1" must be/);
  });
});
