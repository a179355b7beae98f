/**
 * Several Soundee devices in one process, for bench/mqtt.ts: each is a real `MqttBridge` (its own
 * connection, client id, last will, discovery, queue) fed with a real event timeline (the bundled model
 * and event layer over the bundled samples, computed once by the parent) replayed in real time, sped
 * up to the asked rate, plus a level per 250 ms window (throttled to 1/s by the bridge, as live).
 * Over IPC:
 *
 *  - `{ cmd: 'open', url, first, n, classes }` → opens devices dev-<first>…dev-<first+n-1>, answers
 *    `{ connected }` once all are connected;
 *  - `{ cmd: 'run', timeline, speed, seconds }` → replays the timeline on every device (each from its own
 *    random offset) for `seconds`, then flushes; answers `{ sent }`: per device, [id, sendMs] of every
 *    event it handed to its bridge (wall-clock ms), and the bridges' delivery counters;
 *  - `{ cmd: 'close' }` → closes every bridge (offline), answers `{ closed }`.
 */
import { MqttBridge, type MqttStatus } from '../src/mqtt/bridge.ts';
import type { EventInput } from '../src/protocol/index.ts';
import { sleep, wallMs } from './lib.ts';

/** One event of the timeline: when (ms from the stream's start) the pipeline emitted it. */
export interface TimedEvent {
  atMs: number;
  event: EventInput;
}

export type DeviceRequest =
  | { cmd: 'open'; url: string; first: number; n: number; classes: string[] }
  | { cmd: 'run'; timeline: TimedEvent[]; lengthMs: number; speed: number; seconds: number }
  | { cmd: 'close' };

export interface DeviceRunReply {
  sent: { device: number; events: [number, number][] }[];
  status: MqttStatus[];
}

const devices: { index: number; bridge: MqttBridge }[] = [];
const send = (m: unknown) => process.send!(m);

async function open(url: string, first: number, n: number, classes: string[]): Promise<void> {
  for (let i = first; i < first + n; i++)
    devices.push({
      index: i,
      bridge: new MqttBridge({
        url,
        deviceId: `dev-${i}`,
        classes,
        model: { name: 'default', architecture: 'resnet' },
        softwareVersion: 'bench',
        log: (l) => /refused|not delivered|dropped/.test(l) && process.stderr.write(`dev-${i}: ${l}\n`),
      }),
    });
  await Promise.all(devices.map((d) => d.bridge.whenConnected()));
}

async function run(timeline: TimedEvent[], lengthMs: number, speed: number, seconds: number): Promise<DeviceRunReply> {
  const sent = devices.map((d) => ({ device: d.index, events: [] as [number, number][] }));
  const t0 = wallMs();
  const endAt = t0 + seconds * 1000;
  // each device starts at its own place in the (looping) timeline, so that events do not come in bursts;
  // its stream time is offsetMs + (now − t0)·speed, and its next event is timeline[idx] of loop `loop`
  const cursors = devices.map(() => {
    const offsetMs = Math.random() * lengthMs;
    const idx = timeline.findIndex((e) => e.atMs >= offsetMs);
    return { offsetMs, loop: idx === -1 ? 1 : 0, idx: idx === -1 ? 0 : idx };
  });
  let nextLevel = t0;
  while (wallMs() < endAt) {
    const now = wallMs();
    for (let k = 0; k < devices.length; k++) {
      const c = cursors[k]!;
      const streamMs = c.offsetMs + (now - t0) * speed;
      while (c.loop * lengthMs + timeline[c.idx]!.atMs <= streamMs) {
        const { bridge, index } = devices[k]!;
        const sentMs = wallMs();
        const m = bridge.publishEvent({ ...timeline[c.idx]!.event, streamId: `dev-${index}/mic` });
        sent[k]!.events.push([m.id, sentMs]);
        if (++c.idx >= timeline.length) {
          c.idx = 0;
          c.loop++;
        }
      }
    }
    if (now >= nextLevel) {
      // a window's level every 250 ms, as a live stream gives (the bridge sends at most one a second)
      for (const { bridge, index } of devices) bridge.publishLevel(`dev-${index}/mic`, -30 - 10 * Math.random(), now);
      nextLevel += 250;
    }
    await sleep(2);
  }
  await Promise.all(devices.map((d) => d.bridge.flush(30_000)));
  return { sent, status: devices.map((d) => d.bridge.status()) };
}

process.on('message', (req: DeviceRequest) => {
  void (async () => {
    try {
      if (req.cmd === 'open') {
        await open(req.url, req.first, req.n, req.classes);
        send({ connected: devices.length });
      } else if (req.cmd === 'run') send(await run(req.timeline, req.lengthMs, req.speed, req.seconds));
      else {
        await Promise.all(devices.map((d) => d.bridge.close(5000)));
        send({ closed: devices.length });
        process.exit(0);
      }
    } catch (e) {
      send({ error: (e as Error).stack ?? String(e) });
    }
  })();
});
