/** A real MQTT client for tests: subscribes, records every message, waits for the ones a test expects. */
import { type IClientOptions, type MqttClient, connectAsync } from 'mqtt';

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  qos: number;
  /** Receive time (Date.now()). */
  atMs: number;
}

export interface Watcher {
  readonly client: MqttClient;
  readonly messages: Received[];
  /** Messages on `topic` so far (payloads). */
  on(topic: string): string[];
  /** JSON payloads of `topic` so far. */
  json<T = Record<string, unknown>>(topic: string): T[];
  /** Resolves with the first message (already received or to come) that matches; rejects after timeoutMs. */
  next(match: (m: Received) => boolean, timeoutMs?: number, what?: string): Promise<Received>;
  close(): Promise<void>;
}

/** Connects to `url`, subscribes to `topics` at QoS 1 (waiting for the SUBACK) and records what arrives. */
export async function watch(url: string, topics: string[], options: IClientOptions = {}): Promise<Watcher> {
  const client = await connectAsync(url, { reconnectPeriod: 200, connectTimeout: 5000, ...options });
  const messages: Received[] = [];
  const waiters = new Set<() => void>();
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos, atMs: Date.now() });
    for (const w of [...waiters]) w();
  });
  await client.subscribeAsync(topics, { qos: 1 });
  return {
    client,
    messages,
    on: (topic) => messages.filter((m) => m.topic === topic).map((m) => m.payload),
    json: <T>(topic: string) => messages.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload) as T),
    next(match, timeoutMs = 10_000, what = 'a matching message') {
      const found = messages.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = messages.find(match);
          if (!m) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(m);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${what}; got ${messages.map((m) => `${m.topic}=${m.payload.slice(0, 80)}`).join(' | ')}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
      });
    },
    close: () => client.endAsync(true),
  };
}
