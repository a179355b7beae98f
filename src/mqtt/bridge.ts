/**
 * The MQTT bridge: what one Soundee device hears, published to an MQTT broker for home automation
 * (Home Assistant, Node-RED…), and `set` commands taken back.
 *
 * Input is a narrow interface (`MqttSink`): every event as its wire message, and window levels. Output,
 * under `<prefix>/<device>/` (see docs/mqtt.md):
 * - `availability`: `online` once connected, `offline` at close or as the last will; retained.
 * - `<class>/state`: `ON` while an event of the class is open on any of the device's streams, `OFF`
 *   when the last one ends; retained. Republished at each (re)connection.
 * - `events`: every event, QoS 1, with its id; events that happen while the broker is away are queued
 *   (bounded: the oldest are dropped and counted) and published on reconnection, in order.
 * - `level`: the loudest window of the last second, QoS 0 (not queued: only the present matters).
 * - `set` in, `config` out (retained): run-time settings through an `EventControl`.
 * - Home Assistant discovery (retained), resent when Home Assistant announces itself.
 *
 * Nothing here blocks the pipeline: publishing never waits, the connection is made in the background
 * and retried with back-off for as long as the bridge is open (a refused password too: it may be fixed
 * on the broker), and every problem is logged as one clear line. The session is persistent (a stable
 * client id, `clean: false`, MQTT 3.1.1 — what Mosquitto, EMQX and NATS' MQTT listener all speak), so QoS 1
 * messages in flight when the connection drops are sent again on reconnection: delivery is at least once;
 * subscribers that must not see an event twice drop repeated ids.
 */
import { type IClientOptions, type IConnackPacket, type IPublishPacket, type MqttClient, connect } from 'mqtt';
import { SoundeeError } from '../config.ts';
import type { EventControl } from '../events/control.ts';
import type { EventInput, EventMessage } from '../protocol/index.ts';
import { type CommandResult, configPayload, runSetCommand } from './commands.ts';
import { discoveryMessages } from './discovery.ts';
import { DropOldestQueue } from './queue.ts';
import { type DeviceTopics, checkDeviceId, checkPrefix, deviceTopics } from './topics.ts';

/** The defaults of the bridge, in one place. */
export const DEFAULT_MQTT_OPTIONS = Object.freeze({
  prefix: 'soundee',
  discovery: true,
  discoveryPrefix: 'homeassistant',
  /** Events held while the broker is away. */
  queueLimit: 10_000,
  /** Shortest time between two level messages, ms; 0 publishes none. */
  levelIntervalMs: 1000,
  /** How long a connection attempt may wait for the broker's CONNACK, ms. */
  connectTimeoutMs: 10_000,
  keepaliveSeconds: 30,
  /** Reconnection back-off: first delay, doubling up to the last, ms (±20 % jitter). */
  reconnectMinMs: 500,
  reconnectMaxMs: 30_000,
  /** Discovery is resent this long after Home Assistant says `online` (a random delay in the range, ms). */
  discoveryResendMinMs: 1000,
  discoveryResendMaxMs: 5000,
  /** How long `close()` waits for queued and unacknowledged events, ms. */
  closeTimeoutMs: 10_000,
});

/** URL schemes the bridge connects with. */
export const MQTT_SCHEMES = ['mqtt', 'mqtts', 'ws', 'wss'] as const;

export interface MqttBridgeOptions {
  /** Broker URL: mqtt://, mqtts://, ws:// or wss://; may carry user:password@. */
  url: string;
  /** Names the device's topics and Home Assistant entities: [a-z0-9_-]{1,64}. */
  deviceId: string;
  /** The classes that raise events (a state topic and Home Assistant entities each). */
  classes: readonly string[];
  /** Run-time settings the `set` topic changes. Without one, commands are refused. */
  control?: EventControl;
  /** The model (Home Assistant's device model). */
  model: { name: string; architecture: string };
  /** Soundee's version (Home Assistant's device software version). */
  softwareVersion: string;
  /** Topic prefix. Default `soundee`. */
  prefix?: string;
  /** Publish Home Assistant discovery. Default true. */
  discovery?: boolean;
  /** Home Assistant's discovery prefix. Default `homeassistant`. */
  discoveryPrefix?: string;
  /** Overrides the URL's user name and password. */
  username?: string;
  password?: string;
  /** CA certificate(s) (PEM) to trust for mqtts:// and wss://, besides the system's. */
  ca?: string | Buffer;
  /** MQTT client id. Default `soundee-<deviceId>` (stable: the broker keeps the session across restarts). */
  clientId?: string;
  queueLimit?: number;
  levelIntervalMs?: number;
  connectTimeoutMs?: number;
  keepaliveSeconds?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  discoveryResendMinMs?: number;
  discoveryResendMaxMs?: number;
  /** Where the bridge reports (one line each). Default: stderr, prefixed `soundee: mqtt: `. */
  log?: (line: string) => void;
  /** The wall clock, ms (level throttling, timestamps, snoozes); injectable for tests. */
  now?: () => number;
}

/** What the pipeline gives the bridge. */
export interface MqttSink {
  /** An event as published on the wire; an event without an id gets the bridge's next one. Returns it as published. */
  publishEvent(message: EventInput & { type?: 'event'; id?: number }): EventMessage;
  /** One window's level (dBFS; null or -Infinity for digital silence) at wall-clock `atMs`. */
  publishLevel(streamId: string, rmsDb: number | null, atMs?: number): void;
}

/** The bridge's state, for logs and `/v1/info`. */
export interface MqttStatus {
  /** The broker URL without credentials. */
  broker: string;
  deviceId: string;
  clientId: string;
  connected: boolean;
  /** Successful connections so far. */
  connections: number;
  /** Events acknowledged by the broker. */
  delivered: number;
  /** Events waiting for the broker (queued while it is away). */
  queued: number;
  /** Events sent and not yet acknowledged. */
  inFlight: number;
  /** Events dropped because the queue was full (the oldest go first). */
  dropped: number;
  /** The last connection problem, when there was one since the last connection. */
  lastError?: string;
}

/** The broker URL without user name and password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable URL)';
  }
}

/** One line for a connection problem, with what to do about it. */
export function describeMqttError(e: Error & { code?: unknown }, broker: string): string {
  const code = e.code;
  if (typeof code === 'number')
    switch (code) {
      case 4:
      case 5:
      case 134:
      case 135:
        // Mosquitto answers a wrong password with 5 (not authorized), others with 4
        return `the broker at ${broker} refused the user name or password (CONNACK ${code}: ${code === 4 || code === 134 ? 'bad user name or password' : 'not authorized'}); set them in the URL (mqtt://user:password@host) or in SOUNDEE_MQTT_USERNAME and SOUNDEE_MQTT_PASSWORD, and check the user's rights on the broker`;
      case 2:
      case 133:
        return `the broker at ${broker} refused the client id (CONNACK ${code}); choose another --device-id`;
      default:
        return `the broker at ${broker} refused the connection: ${e.message} (CONNACK ${code})`;
    }
  switch (code) {
    case 'ECONNREFUSED':
      return `nothing accepts connections at ${broker} (is the broker running?)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve the broker's host name in ${broker}`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot reach ${broker} (${code})`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `the connection to ${broker} was reset`;
  }
  if (/connack timeout/i.test(e.message))
    return `no answer from ${broker} within the connect timeout (is it an MQTT broker, and the scheme right: mqtts:// on a TLS port?)`;
  if (typeof code === 'string' && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO/.test(code))
    return `TLS with ${broker} failed: ${e.message} (${code}); give the broker's CA with --mqtt-ca FILE`;
  return `${broker}: ${e.message}`;
}

function optionError(message: string): never {
  throw new SoundeeError('ERR_MQTT_OPTIONS', message);
}

/** Splits credentials out of a broker URL and checks its scheme. */
function parseBrokerUrl(url: string): { url: string; username?: string; password?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    optionError(`${JSON.stringify(url)} is not a URL; use mqtt://host:1883, mqtts://host:8883 or ws://host:9001/mqtt`);
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (!(MQTT_SCHEMES as readonly string[]).includes(scheme))
    optionError(
      `unsupported broker URL scheme ${JSON.stringify(`${scheme}:`)}; use one of ${MQTT_SCHEMES.map((s) => `${s}://`).join(', ')}`,
    );
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  u.username = '';
  u.password = '';
  return { url: u.toString(), ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };
}

/**
 * A connection to an MQTT broker that publishes one device's events, states, levels and Home Assistant
 * discovery, and takes `set` commands. Construct it and use it at once: it connects in the background.
 */
export class MqttBridge implements MqttSink {
  readonly topics: DeviceTopics;
  readonly deviceId: string;
  readonly clientId: string;
  readonly broker: string;
  private readonly o: Required<
    Pick<
      MqttBridgeOptions,
      | 'prefix'
      | 'discovery'
      | 'discoveryPrefix'
      | 'queueLimit'
      | 'levelIntervalMs'
      | 'reconnectMinMs'
      | 'reconnectMaxMs'
      | 'discoveryResendMinMs'
      | 'discoveryResendMaxMs'
    >
  >;
  private readonly client: MqttClient;
  private readonly queue: DropOldestQueue<EventMessage>;
  private readonly log: (line: string) => void;
  private readonly now: () => number;
  private readonly classes: readonly string[];
  private readonly discovery: ReturnType<typeof discoveryMessages>;
  /** Streams with an open event, per class. */
  private readonly open = new Map<string, Set<string>>();
  private lastId = 0;
  private inFlight = 0;
  private delivered = 0;
  private connections = 0;
  private attempt = 0;
  private lastError: string | undefined;
  /** The broker refused the last connection (CONNACK): waiting for it at close is pointless. */
  private refused = false;
  private reportedError: string | undefined;
  /**
   * Connected and caught up: set at the 'connect' event (after MQTT.js has resent what was in flight),
   * cleared at 'close'. MQTT.js's own `connected` turns true before that resend: publishing on it would
   * let a new event overtake the queued ones.
   */
  private up = false;
  /** Set once `close()` ends the client: no more reconnections. */
  private ended = false;
  private droppedReported = 0;
  private dropsLogged = false;
  private applyingCommand = false;
  private lastLevelAtMs = -Infinity;
  private pendingLevel: { streamId: string; rmsDb: number | null } | undefined;
  private lastCommand: CommandResult | undefined;
  private closing = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private resendTimer: NodeJS.Timeout | undefined;
  private snoozeTimer: NodeJS.Timeout | undefined;
  private readonly idleWaiters = new Set<() => void>();
  private readonly connectWaiters = new Set<() => void>();
  private readonly offControl: (() => void) | undefined;

  /** @throws SoundeeError ERR_MQTT_OPTIONS for a bad URL, prefix or device id (before anything connects). */
  constructor(private readonly options: MqttBridgeOptions) {
    const d = DEFAULT_MQTT_OPTIONS;
    this.o = {
      prefix: checkPrefix(options.prefix ?? d.prefix),
      discovery: options.discovery ?? d.discovery,
      discoveryPrefix: checkPrefix(options.discoveryPrefix ?? d.discoveryPrefix),
      queueLimit: options.queueLimit ?? d.queueLimit,
      levelIntervalMs: options.levelIntervalMs ?? d.levelIntervalMs,
      reconnectMinMs: options.reconnectMinMs ?? d.reconnectMinMs,
      reconnectMaxMs: options.reconnectMaxMs ?? d.reconnectMaxMs,
      discoveryResendMinMs: options.discoveryResendMinMs ?? d.discoveryResendMinMs,
      discoveryResendMaxMs: options.discoveryResendMaxMs ?? d.discoveryResendMaxMs,
    };
    this.deviceId = checkDeviceId(options.deviceId);
    this.classes = options.control?.tracked ?? [...options.classes];
    this.topics = deviceTopics(this.o.prefix, this.deviceId, this.classes);
    this.queue = new DropOldestQueue(this.o.queueLimit);
    this.log = options.log ?? ((line) => void process.stderr.write(`soundee: mqtt: ${line}\n`));
    this.now = options.now ?? Date.now;
    this.clientId = options.clientId ?? `soundee-${this.deviceId}`;
    this.discovery = discoveryMessages({
      deviceId: this.deviceId,
      topics: this.topics,
      classes: this.classes,
      model: options.model,
      softwareVersion: options.softwareVersion,
      discoveryPrefix: this.o.discoveryPrefix,
      controls: options.control !== undefined,
    });
    const parsed = parseBrokerUrl(options.url);
    this.broker = redactUrl(parsed.url);
    const username = options.username ?? parsed.username;
    const password = options.password ?? parsed.password;
    const clientOptions: IClientOptions = {
      clientId: this.clientId,
      protocolVersion: 4,
      clean: false,
      keepalive: options.keepaliveSeconds ?? d.keepaliveSeconds,
      connectTimeout: options.connectTimeoutMs ?? d.connectTimeoutMs,
      // reconnection is ours (back-off); MQTT.js's is a fixed period
      reconnectPeriod: 0,
      resubscribe: false,
      will: { topic: this.topics.availability, payload: Buffer.from('offline'), qos: 1, retain: true },
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    };
    // a command's change is answered once, with its result, by onCommand
    this.offControl = options.control?.onChange(() => this.applyingCommand || this.publishConfig());
    this.client = connect(parsed.url, clientOptions);
    this.client.on('connect', (p) => this.onConnect(p));
    this.client.on('close', () => this.onClose());
    this.client.on('error', (e) => this.onError(e));
    this.client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
    this.log(`connecting to ${this.broker} as ${this.clientId} (topics ${this.o.prefix}/${this.deviceId}/…)`);
  }

  /** Whether the broker is connected now. */
  get connected(): boolean {
    return this.up;
  }

  /** The connection and delivery counters (for logs, `/v1/info` and `hello`). */
  status(): MqttStatus {
    return {
      broker: this.broker,
      deviceId: this.deviceId,
      clientId: this.clientId,
      connected: this.up,
      connections: this.connections,
      delivered: this.delivered,
      queued: this.queue.length,
      inFlight: this.inFlight,
      dropped: this.queue.dropped,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
    };
  }

  /**
   * Publishes an event (QoS 1), or queues it while the broker is away, and the class's state when it
   * changes. Never waits. An event without an id gets the next one after the highest seen.
   */
  publishEvent(message: EventInput & { type?: 'event'; id?: number }): EventMessage {
    const { type: _t, ...rest } = message;
    const msg: EventMessage = { type: 'event', ...rest, id: message.id ?? this.lastId + 1 };
    this.lastId = Math.max(this.lastId, msg.id);
    const changed = this.track(msg);
    if (this.up) {
      this.sendEvent(msg);
      if (changed) this.publishState(msg.label);
    } else if (this.queue.push(msg) !== undefined && !this.dropsLogged) {
      this.dropsLogged = true;
      this.log(`the queue of ${this.o.queueLimit} events is full: dropping the oldest until ${this.broker} is back (counted)`);
    }
    return msg;
  }

  /** Takes a window's level; publishes the loudest since the last message once `levelIntervalMs` has passed (QoS 0, dropped while the broker is away). */
  publishLevel(streamId: string, rmsDb: number | null, atMs: number = this.now()): void {
    if (this.o.levelIntervalMs === 0) return;
    const db = rmsDb === null || !Number.isFinite(rmsDb) ? null : Math.round(rmsDb * 10) / 10;
    const p = this.pendingLevel;
    if (!p || (db !== null && (p.rmsDb === null || db > p.rmsDb))) this.pendingLevel = { streamId, rmsDb: db };
    if (atMs - this.lastLevelAtMs < this.o.levelIntervalMs) return;
    const level = this.pendingLevel!;
    this.pendingLevel = undefined;
    this.lastLevelAtMs = atMs;
    // QoS 0 and never queued: a level from minutes ago is of no use
    if (this.up) this.client.publish(this.topics.level, JSON.stringify({ ...level, time: new Date(atMs).toISOString() }), { qos: 0 });
  }

  /** Resolves once the broker is connected (immediately when it is). */
  whenConnected(): Promise<void> {
    if (this.up) return Promise.resolve();
    return new Promise((resolve) => this.connectWaiters.add(resolve));
  }

  /**
   * Waits until every event has been acknowledged by the broker (nothing queued, nothing in flight),
   * or `timeoutMs` has passed.
   * @returns whether everything was delivered.
   */
  flush(timeoutMs: number = DEFAULT_MQTT_OPTIONS.closeTimeoutMs): Promise<boolean> {
    if (this.idle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.idleWaiters.delete(onIdle);
        resolve(ok);
      };
      const onIdle = () => done(true);
      const timer = setTimeout(() => done(this.idle()), timeoutMs);
      this.idleWaiters.add(onIdle);
    });
  }

  /**
   * Delivers what is pending (waiting up to `timeoutMs` for the broker and its acknowledgements),
   * publishes `offline`, and disconnects. Logs what could not be delivered. Idempotent.
   * @returns whether every event was delivered.
   */
  async close(timeoutMs: number = DEFAULT_MQTT_OPTIONS.closeTimeoutMs): Promise<boolean> {
    if (this.closing) return this.idle();
    const deadline = this.now() + timeoutMs;
    this.closing = true;
    clearTimeout(this.resendTimer);
    clearTimeout(this.snoozeTimer);
    this.offControl?.();
    const pending = () => this.queue.length + this.inFlight;
    if (!this.up && pending() > 0 && !this.refused) {
      this.log(`waiting up to ${Math.round(timeoutMs / 1000)} s for ${this.broker} to deliver ${pending()} events`);
      await Promise.race([this.whenConnected(), new Promise((r) => setTimeout(r, timeoutMs))]);
    }
    let delivered = await this.flush(Math.max(0, deadline - this.now()));
    if (this.up) {
      // a clean goodbye: the will is not sent on a DISCONNECT, so say offline ourselves
      this.publishRetained(this.topics.availability, 'offline');
      delivered = (await this.flush(Math.max(1000, deadline - this.now()))) && delivered;
    }
    this.ended = true;
    clearTimeout(this.reconnectTimer);
    const graceful = this.up;
    await new Promise<void>((resolve) => this.client.end(!graceful, {}, () => resolve()));
    delivered &&= this.idle();
    if (!delivered)
      this.log(
        `${pending()} events were not delivered: ${this.broker} ${this.lastError ? `could not be reached (${this.lastError})` : 'did not acknowledge them in time'}`,
      );
    if (this.queue.dropped > 0)
      this.log(`${this.queue.dropped} events were dropped in all while the broker was away (queue limit ${this.o.queueLimit})`);
    return delivered;
  }

  // ---------------------------------------------------------------- connection

  private onConnect(connack: IConnackPacket): void {
    const wasDown = this.connections > 0 || this.lastError !== undefined;
    this.connections++;
    this.up = true;
    this.refused = false;
    this.attempt = 0;
    this.lastError = this.reportedError = undefined;
    this.log(
      `${wasDown ? 'connected again to' : 'connected to'} ${this.broker}${connack.sessionPresent ? ' (session resumed)' : ''}${this.queue.length ? `; sending ${this.queue.length} queued events` : ''}`,
    );
    const topics = [this.topics.set, ...(this.o.discovery ? [`${this.o.discoveryPrefix}/status`] : [])];
    this.client.subscribe(topics, { qos: 1 }, (err) => err && this.log(`cannot subscribe to ${topics.join(', ')}: ${err.message}`));
    this.publishRetained(this.topics.availability, 'online');
    if (this.o.discovery) this.publishDiscovery();
    this.publishConfig();
    for (const c of this.classes) this.publishState(c);
    for (let m = this.queue.shift(); m; m = this.queue.shift()) this.sendEvent(m);
    const dropped = this.queue.dropped - this.droppedReported;
    if (dropped > 0) this.log(`${dropped} events were dropped while the broker was away (queue limit ${this.o.queueLimit}, oldest first)`);
    this.droppedReported = this.queue.dropped;
    this.dropsLogged = false;
    for (const w of this.connectWaiters) w();
    this.connectWaiters.clear();
  }

  private onError(e: Error & { code?: unknown }): void {
    this.lastError = describeMqttError(e, this.broker);
    this.refused = typeof e.code === 'number';
  }

  private onClose(): void {
    if (this.ended) return;
    const wasUp = this.up;
    this.up = false;
    const delay = this.backoff();
    const reason =
      (wasUp ? undefined : this.lastError) ??
      (wasUp ? `lost the connection to ${this.broker}` : `no answer from ${this.broker} within the connect timeout`);
    // one line per new problem, then fewer and fewer (attempts 2, 4, 8…): a long outage does not flood the log
    const n = this.attempt;
    if (reason !== this.reportedError || (n & (n - 1)) === 0)
      this.log(
        `${reason}; retrying in ${(delay / 1000).toFixed(1)} s${n > 1 ? ` (attempt ${n})` : ''} (events are kept: up to ${this.o.queueLimit} while the broker is away)`,
      );
    this.reportedError = reason;
    this.lastError ??= reason;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      // keep the stores: QoS 1 messages in flight are sent again on the new connection
      this.client.reconnect({ incomingStore: this.client.incomingStore, outgoingStore: this.client.outgoingStore });
    }, delay);
    this.reconnectTimer.unref();
  }

  /** The next reconnection delay: doubling from reconnectMinMs up to reconnectMaxMs, ±20 % jitter (so that many devices do not return at once). */
  private backoff(): number {
    const base = Math.min(this.o.reconnectMaxMs, this.o.reconnectMinMs * 2 ** Math.min(this.attempt++, 30));
    return Math.round(base * (0.8 + 0.4 * Math.random()));
  }

  // ---------------------------------------------------------------- publishing

  /** Records an event's effect on the device's class states; returns whether the class's state changed. */
  private track(m: EventMessage): boolean {
    let streams = this.open.get(m.label);
    if (!streams) this.open.set(m.label, (streams = new Set()));
    const before = streams.size;
    if (m.phase === 'start') streams.add(m.streamId);
    else streams.delete(m.streamId);
    return (before === 0) !== (streams.size === 0);
  }

  private sendEvent(m: EventMessage): void {
    this.send(this.topics.events, JSON.stringify(m), false, (err) => {
      // only a forced end (close after its timeout) fails a QoS 1 publish: the event is lost
      if (err) this.log(`event ${m.id} was not delivered: ${err.message}`);
      else this.delivered++;
    });
  }

  /** Publishes at QoS 1, counting the message in flight until the broker acknowledges it. */
  private send(topic: string, payload: string, retain: boolean, onAck?: (err?: Error) => void): void {
    this.inFlight++;
    this.client.publish(topic, payload, { qos: 1, retain }, (err) => {
      this.inFlight--;
      onAck?.(err);
      if (this.idle()) for (const w of [...this.idleWaiters]) w();
    });
  }

  private idle(): boolean {
    return this.queue.length === 0 && this.inFlight === 0;
  }

  private publishRetained(topic: string, payload: string): void {
    this.send(topic, payload, true);
  }

  private publishState(label: string): void {
    if (!this.up) return; // republished on connection
    this.publishRetained(this.topics.state(label), (this.open.get(label)?.size ?? 0) > 0 ? 'ON' : 'OFF');
  }

  private publishDiscovery(): void {
    for (const d of this.discovery) this.publishRetained(d.topic, JSON.stringify(d.payload));
  }

  private publishConfig(): void {
    const control = this.options.control;
    if (!control) return;
    this.scheduleSnoozeEnd(control);
    if (!this.up) return; // republished on connection
    this.publishRetained(this.topics.config, JSON.stringify(configPayload(this.deviceId, control, this.now(), this.lastCommand)));
  }

  /** Republishes config when the next snooze ends, so that it shows the class as awake again. */
  private scheduleSnoozeEnd(control: EventControl): void {
    clearTimeout(this.snoozeTimer);
    const now = this.now();
    const ends = Object.values(control.state())
      .map((s) => s.snoozedUntilMs)
      .filter((t): t is number => t !== null && t > now);
    if (!ends.length || this.closing) return;
    this.snoozeTimer = setTimeout(() => this.publishConfig(), Math.min(...ends) - now + 50);
    this.snoozeTimer.unref();
  }

  // ---------------------------------------------------------------- commands in

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (topic === this.topics.set) return this.onCommand(payload, packet.retain);
    if (topic === `${this.o.discoveryPrefix}/status` && payload.toString() === 'online' && this.o.discovery && !this.resendTimer) {
      const { discoveryResendMinMs: lo, discoveryResendMaxMs: hi } = this.o;
      // a random delay, so that a restarted Home Assistant is not answered by every device at once
      this.resendTimer = setTimeout(
        () => {
          this.resendTimer = undefined;
          if (!this.up || this.closing) return;
          this.publishDiscovery();
          this.publishConfig();
          for (const c of this.classes) this.publishState(c);
        },
        lo + Math.random() * (hi - lo),
      );
      this.resendTimer.unref();
    }
  }

  private onCommand(payload: Buffer, retained: boolean): void {
    const control = this.options.control;
    const at = new Date(this.now()).toISOString();
    let result: CommandResult;
    if (retained)
      result = {
        ok: false,
        at,
        error: {
          code: 'ERR_MQTT_COMMAND',
          message:
            'set commands must not be retained (a retained command would run again at every start); clear it and send it without retain',
        },
      };
    else if (!control) result = { ok: false, at, error: { code: 'ERR_MQTT_COMMAND', message: 'this device takes no set commands' } };
    else {
      this.applyingCommand = true;
      try {
        result = runSetCommand(control, payload, this.now());
      } finally {
        this.applyingCommand = false;
      }
    }
    this.lastCommand = result;
    if (result.ok) this.log(`set: ${payload.toString().slice(0, 200)}`);
    else this.log(`set refused: ${result.error!.message}`);
    // the answer: the settings in force (changed or not) and how the command went
    this.publishConfig();
  }
}
