/**
 * `npm run bench:mqtt [-- --devices 50] [-- --subscribers 100] [-- --rates 0.5,2,8] [-- --seconds 20]
 * [-- --device-procs 5] [-- --subscriber-procs 4] [-- --topic 'soundee/#'] [-- --url mqtt://…] [-- --json] [-- --out FILE]`:
 * many Soundee devices publishing through one Mosquitto to many subscribers.
 *
 * - The events are real: the bundled model and the event layer (`soundee replay --json`, the CLI itself)
 *   over the eight bundled samples joined into one 24 s scene, each event with the time the pipeline
 *   emitted it. Every device replays that timeline, looping, from its own random offset, sped up to the
 *   asked events per second per device, and sends a level per 250 ms window as a live stream does.
 * - Every device is a real `MqttBridge` (its own connection, client id, last will, discovery, QoS 1 queue),
 *   several per process (`--device-procs`); every subscriber its own MQTT.js connection subscribed at
 *   QoS 1 to `--topic` (default every device's every topic, as a Home Assistant instance would be),
 *   several per process. The broker is Debian's mosquitto, started on a free port
 *   (max_queued_messages 100 000, max_inflight_messages 100), or the one at `--url` (a cluster to size).
 *   Device ids are dev-0…dev-<N−1>: use a broker (or prefix) where they are free.
 * - Per rate: events published per second, deliveries per second, device-to-subscriber latency over
 *   every delivery (the device's wall clock when it hands the event to its bridge vs the subscriber's when
 *   the message arrives, same machine), events lost (sent by a device and never received by a
 *   subscriber; the goal is none) and duplicates, and the broker's CPU use.
 */
import { type ChildProcess, execFile, fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { EventMessage } from '../src/protocol/index.ts';
import { REPO_ROOT, tempDir } from '../test/helpers/fixtures.ts';
import { startMosquitto } from '../test/helpers/mosquitto.ts';
import { writeScene } from '../test/helpers/tilt-model.ts';
import { machine, quantile, sleep, table, uptime, wallMs } from './lib.ts';
import type { DeviceRequest, DeviceRunReply, TimedEvent } from './mqtt-device.ts';
import type { CollectReply, SubscriberRequest } from './mqtt-subscriber.ts';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '50' },
    subscribers: { type: 'string', default: '100' },
    rates: { type: 'string', default: '0.5,2,8' },
    seconds: { type: 'string', default: '20' },
    'device-procs': { type: 'string', default: '5' },
    'subscriber-procs': { type: 'string', default: '4' },
    topic: { type: 'string', default: 'soundee/#' },
    url: { type: 'string' },
    json: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const DEVICES = Number(values.devices);
const SUBSCRIBERS = Number(values.subscribers);
const RATES = values.rates.split(',').map(Number);
const SECONDS = Number(values.seconds);
const DEVICE_PROCS = Math.min(DEVICES, Number(values['device-procs']));
const SUB_PROCS = Math.min(SUBSCRIBERS, Number(values['subscriber-procs']));
const log = (s: string) => {
  if (!values.json) console.log(s);
};
const progress = (s: string) => process.stderr.write(`  … ${s}\n`);
const SAMPLES = ['water', 'rain', 'fire', 'wind', 'birds', 'engine', 'insects', 'speech'];

/** The bundled model's events over the scene, each with the end of the window that emitted it. */
async function realTimeline(dir: string): Promise<{ timeline: TimedEvent[]; lengthMs: number; classes: string[] }> {
  const scene = join(dir, 'scene.wav');
  const seconds = await writeScene(scene, SAMPLES);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'bin/soundee.js'), 'replay', scene, '--json'],
      { maxBuffer: 64 << 20 },
      (err, stdout, stderr) => (err ? reject(new Error(`soundee replay failed: ${stderr}`)) : resolve(stdout)),
    ),
  );
  const timeline: TimedEvent[] = [];
  let windowEndMs = 0;
  for (const line of out.split('\n').filter(Boolean)) {
    const m = JSON.parse(line) as { type: string; endMs?: number };
    if (m.type === 'prediction') windowEndMs = m.endMs!;
    else if (m.type === 'event') {
      const { type: _t, id: _id, ...event } = m as unknown as EventMessage;
      // the last ends come with the end of the stream
      timeline.push({ atMs: windowEndMs, event });
    }
  }
  const meta = JSON.parse(readFileSync(join(REPO_ROOT, 'models/default/metadata.json'), 'utf8')) as {
    classes: string[];
    backgroundClasses?: string[];
  };
  const classes = meta.classes.filter((c) => !(meta.backgroundClasses ?? []).includes(c));
  return { timeline, lengthMs: seconds * 1000, classes };
}

/** A benchmark child with a request/answer channel. */
function child(script: string) {
  const c: ChildProcess = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const ask = <T>(req: DeviceRequest | SubscriberRequest): Promise<T> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`${script} exited (code ${code})`));
      c.once('exit', onExit);
      c.once('message', (m) => {
        c.off('exit', onExit);
        if (m && typeof m === 'object' && 'error' in m) reject(new Error(String((m as { error: unknown }).error)));
        else resolve(m as T);
      });
      c.send(req);
    });
  return { child: c, ask };
}

/** CPU seconds the process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}

interface RateFigure {
  eventsPerDevicePerSecond: number;
  seconds: number;
  eventsPublished: number;
  eventsPerSecond: number;
  /** Event deliveries (all subscribers), and per second from the start until the last one arrived. */
  deliveries: number;
  deliveriesPerSecond: number;
  /** Every message the subscribers got (events, states, levels…), per second over the same time. */
  messagesPerSecond: number;
  /** From the start of the step to the last delivery, s (longer than `seconds` when the subscribers fell behind). */
  untilLastSeconds: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  lost: number;
  duplicates: number;
  unknown: number;
  bridgeDropped: number;
  brokerCpuPercent: number;
  /** Messages other than events the subscribers got (levels, states, configs, availability, discovery). */
  otherMessages: number;
}

const m = machine();
const result: {
  command: string;
  machine: typeof m;
  uptimeBefore: string;
  uptimeAfter?: string;
  devices: number;
  subscribers: number;
  devicesProcesses: number;
  subscriberProcesses: number;
  topic: string;
  timeline?: { events: number; lengthMs: number; naturalEventsPerSecond: number };
  rates: RateFigure[];
} = {
  command: `npm run bench:mqtt -- ${process.argv.slice(2).join(' ')}`.trim(),
  machine: m,
  uptimeBefore: uptime(),
  devices: DEVICES,
  subscribers: SUBSCRIBERS,
  devicesProcesses: DEVICE_PROCS,
  subscriberProcesses: SUB_PROCS,
  topic: values.topic,
  rates: [],
};
log(`soundee MQTT bench — ${m.cpu}, ${m.cores} cores, Node ${m.node}`);
log(`before: ${result.uptimeBefore}${m.load1 > 0.5 * m.cores ? '  ⚠ machine busy: figures will be low and noisy' : ''}`);

const tmp = await tempDir('soundee-bench-mqtt-');
const local = values.url ? undefined : await startMosquitto();
const brokerUrl = values.url ?? local!.url;
const devices: ReturnType<typeof child>[] = [];
const subscribers: ReturnType<typeof child>[] = [];
try {
  progress('the events of the bundled model over the bundled samples (soundee replay --json)');
  const { timeline, lengthMs, classes } = await realTimeline(tmp.dir);
  const natural = timeline.length / (lengthMs / 1000);
  result.timeline = { events: timeline.length, lengthMs, naturalEventsPerSecond: natural };
  log(
    `timeline: ${timeline.length} events over ${(lengthMs / 1000).toFixed(0)} s of audio (${natural.toFixed(2)} events/s per device at real time)`,
  );

  progress(`${SUBSCRIBERS} subscribers in ${SUB_PROCS} processes`);
  for (let p = 0, first = 0; p < SUB_PROCS; p++) {
    const n = Math.floor(SUBSCRIBERS / SUB_PROCS) + (p < SUBSCRIBERS % SUB_PROCS ? 1 : 0);
    const c = child('./mqtt-subscriber.ts');
    subscribers.push(c);
    await c.ask({ cmd: 'open', url: brokerUrl, n, topic: values.topic, first });
    first += n;
  }
  progress(`${DEVICES} devices in ${DEVICE_PROCS} processes`);
  for (let p = 0, first = 0; p < DEVICE_PROCS; p++) {
    const n = Math.floor(DEVICES / DEVICE_PROCS) + (p < DEVICES % DEVICE_PROCS ? 1 : 0);
    const c = child('./mqtt-device.ts');
    devices.push(c);
    await c.ask({ cmd: 'open', url: brokerUrl, first, n, classes });
    first += n;
  }
  await sleep(2000); // discovery and retained states delivered to everyone before measuring

  for (const rate of RATES) {
    progress(`${rate} events/s per device for ${SECONDS} s`);
    const cpu0 = local ? cpuSeconds(local.pid!) : Number.NaN;
    const t0 = wallMs();
    const runs = await Promise.all(
      devices.map((d) => d.ask<DeviceRunReply>({ cmd: 'run', timeline, lengthMs, speed: rate / natural, seconds: SECONDS })),
    );
    const sent = runs.flatMap((r) => r.sent);
    const published = sent.reduce((a, d) => a + d.events.length, 0);
    // wait for the subscribers to have everything (or to stop receiving)
    const expected = published * SUBSCRIBERS;
    let got = -1;
    let tDone = wallMs();
    // done when everything arrived, or nothing more for 10 s (what is missing then is lost)
    for (let stable = 0, last = -1; stable < 100; ) {
      got = (await Promise.all(subscribers.map((s) => s.ask<{ events: number }>({ cmd: 'count' })))).reduce((a, r) => a + r.events, 0);
      if (got !== last) tDone = wallMs();
      if (got >= expected) break;
      stable = got === last ? stable + 1 : 0;
      last = got;
      await sleep(100);
    }
    const wallSeconds = (tDone - t0) / 1000;
    const cpu1 = local ? cpuSeconds(local.pid!) : Number.NaN;
    const replies = await Promise.all(subscribers.map((s) => s.ask<CollectReply>({ cmd: 'collect', sent })));
    const lat: number[] = [];
    for (const r of replies) for (const v of new Float32Array(new Uint8Array(Buffer.from(r.latenciesMs, 'base64')).buffer)) lat.push(v);
    const distinct = replies.flatMap((r) => r.distinct);
    const other = replies.reduce((a, r) => a + r.other, 0);
    const f: RateFigure = {
      eventsPerDevicePerSecond: rate,
      seconds: SECONDS,
      eventsPublished: published,
      eventsPerSecond: published / SECONDS,
      deliveries: got,
      deliveriesPerSecond: got / wallSeconds,
      messagesPerSecond: (got + other) / wallSeconds,
      untilLastSeconds: wallSeconds,
      latencyMs: { p50: quantile(lat, 0.5), p90: quantile(lat, 0.9), p99: quantile(lat, 0.99), max: quantile(lat, 1) },
      lost: distinct.reduce((a, n) => a + (published - n), 0),
      duplicates: replies.flatMap((r) => r.duplicates).reduce((a, n) => a + n, 0),
      unknown: replies.reduce((a, r) => a + r.unknown, 0),
      bridgeDropped: runs.flatMap((r) => r.status).reduce((a, s) => a + s.dropped, 0),
      brokerCpuPercent: (100 * (cpu1 - cpu0)) / wallSeconds,
      otherMessages: other,
    };
    result.rates.push(f);
  }
} finally {
  await Promise.allSettled([...devices, ...subscribers].map((c) => c.ask({ cmd: 'close' })));
  await local?.cleanup();
  await tmp.cleanup();
}
result.uptimeAfter = uptime();

log('');
log(
  `${DEVICES} devices (${DEVICE_PROCS} processes) → mosquitto → ${SUBSCRIBERS} subscribers (${SUB_PROCS} processes), topic ${values.topic}, QoS 1`,
);
log(
  table([
    [
      'events/s/device',
      'events/s',
      'deliveries/s',
      'all msgs/s',
      'until last s',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'max ms',
      'lost',
      'dup',
      'broker CPU',
    ],
    ...result.rates.map((f) => [
      String(f.eventsPerDevicePerSecond),
      f.eventsPerSecond.toFixed(1),
      f.deliveriesPerSecond.toFixed(0),
      f.messagesPerSecond.toFixed(0),
      f.untilLastSeconds.toFixed(1),
      f.latencyMs.p50.toFixed(1),
      f.latencyMs.p90.toFixed(1),
      f.latencyMs.p99.toFixed(1),
      f.latencyMs.max.toFixed(1),
      String(f.lost),
      String(f.duplicates),
      `${f.brokerCpuPercent.toFixed(0)} %`,
    ]),
  ]),
);
log(`after: ${result.uptimeAfter}`);
if (values.json) console.log(JSON.stringify(result, null, 2));
if (values.out) writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
if (result.rates.some((f) => f.lost > 0)) process.exitCode = 1;
