/**
 * Many MQTT subscribers in one process, for bench/mqtt.ts (so that they share neither the broker's nor
 * the devices' CPU time slices with the parent). Each is its own MQTT.js connection with its own
 * subscription (QoS 1): every subscriber gets every event of every device, as each Home Assistant or
 * Node-RED instance would. Over IPC:
 *
 *  - `{ cmd: 'open', url, n, topic }` → connects n subscribers, answers `{ subscribed }` after every SUBACK;
 *  - `{ cmd: 'count' }` → `{ events }`: event deliveries so far (all subscribers);
 *  - `{ cmd: 'collect', sent }` → given every device's [id, sendMs], answers per subscriber how many
 *    distinct events it got, how many twice, and (base64 Float32Array) the latency of every delivery:
 *    receive time − send time, wall-clock ms of this machine;
 *  - `{ cmd: 'close' }` → disconnects them.
 */
import { type MqttClient, connectAsync } from 'mqtt';
import { wallMs } from './lib.ts';

export type SubscriberRequest =
  | { cmd: 'open'; url: string; n: number; topic: string; first: number }
  | { cmd: 'count' }
  | { cmd: 'collect'; sent: { device: number; events: [number, number][] }[] }
  | { cmd: 'close' };

export interface CollectReply {
  /** Per subscriber: distinct events received, and deliveries of an event already received. */
  distinct: number[];
  duplicates: number[];
  /** Events received that no device reported sending (should be 0). */
  unknown: number;
  /** base64 of a Float32Array: the latency of every first delivery, ms. */
  latenciesMs: string;
  /** Other messages (states, levels, configs, availability, discovery). */
  other: number;
}

interface Sub {
  client: MqttClient;
  /** "device id" → receive time (first delivery). */
  got: Map<string, number>;
  duplicates: number;
}

const subs: Sub[] = [];
let deliveries = 0;
let other = 0;
const send = (m: unknown) => process.send!(m);

async function open(url: string, n: number, topic: string, first: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const client = await connectAsync(url, { clientId: `bench-sub-${first + i}`, clean: true, reconnectPeriod: 1000, keepalive: 60 });
    const sub: Sub = { client, got: new Map(), duplicates: 0 };
    client.on('message', (t, payload) => {
      const at = wallMs();
      if (!t.endsWith('/events')) {
        other++;
        return;
      }
      deliveries++;
      const e = JSON.parse(payload.toString()) as { id: number };
      const key = `${t.split('/')[1]} ${e.id}`;
      if (sub.got.has(key)) sub.duplicates++;
      else sub.got.set(key, at);
    });
    await client.subscribeAsync(topic, { qos: 1 });
    subs.push(sub);
  }
}

function collect(sent: { device: number; events: [number, number][] }[]): CollectReply {
  const sentMs = new Map<string, number>();
  for (const d of sent) for (const [id, ms] of d.events) sentMs.set(`dev-${d.device} ${id}`, ms);
  const lat: number[] = [];
  let unknown = 0;
  for (const s of subs)
    for (const [key, at] of s.got) {
      const t = sentMs.get(key);
      if (t === undefined) unknown++;
      else lat.push(at - t);
    }
  const f = Float32Array.from(lat);
  return {
    distinct: subs.map((s) => s.got.size),
    duplicates: subs.map((s) => s.duplicates),
    unknown,
    latenciesMs: Buffer.from(f.buffer).toString('base64'),
    other,
  };
}

process.on('message', (req: SubscriberRequest) => {
  void (async () => {
    try {
      if (req.cmd === 'open') {
        await open(req.url, req.n, req.topic, req.first);
        send({ subscribed: subs.length });
      } else if (req.cmd === 'count') send({ events: deliveries });
      else if (req.cmd === 'collect') {
        send(collect(req.sent));
        for (const s of subs) {
          s.got.clear();
          s.duplicates = 0;
        }
        deliveries = other = 0;
      } else {
        await Promise.all(subs.map((s) => s.client.endAsync()));
        send({ closed: subs.length });
        process.exit(0);
      }
    } catch (e) {
      send({ error: (e as Error).stack ?? String(e) });
    }
  })();
});
