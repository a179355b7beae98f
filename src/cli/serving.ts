/**
 * What the serving commands (serve, listen, replay) share, so that no command imports another: the
 * serving options (./server-options.ts), opening the engine, (with a port) the server and (with --mqtt) the MQTT bridge,
 * printing and serving a stream's outputs, and waiting for Ctrl-C.
 */
import { type Engine, openEngine } from '../engine/engine.ts';
import type { StreamOutput } from '../engine/outputs.ts';
import type { MqttBridge, MqttSink } from '../mqtt/bridge.ts';
import type { PredictionMessage } from '../protocol/index.ts';
import type { EventOptions } from '../events/tracker.ts';
import { defaultLearnDir } from '../paths.ts';
import { type ServerOptions, type SoundeeServer, type TeachOptions, helloFor, startServer } from '../server/server.ts';
import { type ModelCliOptions, engineOptionsOf, fail, info } from './common.ts';
import { type EventCliOptions, eventOptionsOf, eventSettingsFor } from './event-options.ts';
import { openMqtt } from './mqtt-options.ts';
import { type ServerCliOptions, announce, serverSettings } from './server-options.ts';
import { eventLine, predictionHeader, predictionRow, quietRow } from './format.ts';

// the serving options (address, token, origins, the server's limits, MQTT) are declared in ./server-options.ts
export { type ServerCliOptions, serverOptions } from './server-options.ts';

/** What a serving command opens before its stream: the engine (model, queues, event settings), with a port the server, with --mqtt the bridge. */
export interface Serving {
  engine: Engine;
  /** Undefined without a port. */
  server: SoundeeServer | undefined;
  /** The MQTT bridge (connecting in the background); undefined without --mqtt. */
  mqtt: MqttBridge | undefined;
  /**
   * Closes the server (its ingest streams' events end with reason shutdown), then the bridge (waiting,
   * bounded, for the broker's acknowledgements), and disposes the engine.
   */
  close(): Promise<void>;
}

/**
 * The start shared by serve, listen and replay: the server settings (address, token, origins, limits;
 * warning when exposed without a token), the engine with the command line's event settings (bad ones refused, exit 2, before
 * anything records), and with `o.port` the server, its hello naming `streams`, announced on stderr.
 * Whatever fails after the model loaded disposes it; a busy port or an unknown address gets one clear
 * line (exit 1).
 */
export async function openServing(
  o: ModelCliOptions & EventCliOptions & ServerCliOptions & { port?: number },
  streams: string[],
  more: (engine: Engine, mqtt: MqttBridge | undefined) => Omit<ServerOptions, 'host' | 'token' | 'origins' | 'port' | 'hello'> = () => ({}),
): Promise<Serving> {
  const security = o.port === undefined ? undefined : serverSettings(o);
  const engine = await openEngine(await engineOptionsOf(o));
  let server: SoundeeServer | undefined;
  let mqtt: MqttBridge | undefined;
  try {
    const events = eventSettingsFor(o, engine.model);
    // with --mqtt: the bridge, and its run-time control (set commands) in the event options every stream takes
    mqtt = openMqtt(o, engine.model, events);
    engine.setEventOptions(events.options);
    const bridge = mqtt;
    if (security && o.port !== undefined)
      server = await startServer({
        ...security,
        port: o.port,
        hello: () => ({ ...helloFor(engine.model, streams), ...(bridge ? { mqtt: bridge.status() } : {}) }),
        ...(o.learn === false ? {} : { learn: teaching(o, engine, events.options.control) }),
        ...more(engine, mqtt),
      });
  } catch (e) {
    await mqtt?.close(0);
    engine.dispose();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') fail(`port ${o.port} on ${o.host} is already in use; choose another with --port (0 = any free port)`);
    if (code === 'EADDRNOTAVAIL') fail(`cannot listen on ${o.host}: no such local address`);
    if (code === 'ERR_LEARN_OUT') fail((e as Error).message, 2);
    throw e;
  }
  if (server) announce(server, security?.token !== undefined);
  if (server && o.learn !== false)
    info(`soundee: teach it sounds from the dashboard; learned models go to ${o.learnDir ?? defaultLearnDir()}`);
  return {
    engine,
    server,
    mqtt,
    async close() {
      await server?.close();
      await mqtt?.close();
      engine.dispose();
    },
  };
}

/**
 * What a serving command's server needs to learn classes at run time: the engine and the model's
 * directory, the learn directory (--learn-dir), and the command line's event settings for each new
 * model (as at start-up, for its classes: a learned class gets its own settings unless the options
 * override them; a per-class option for a class that is gone is dropped; MQTT's run-time control stays).
 */
function teaching(o: ModelCliOptions & EventCliOptions & ServerCliOptions, engine: Engine, control: EventOptions['control']): TeachOptions {
  return {
    engine,
    modelDir: o.model,
    learnDir: o.learnDir ?? defaultLearnDir(),
    events: (m) => {
      const options = eventOptionsOf(o, m);
      const has = new Set(m.classes);
      return {
        ...options,
        perClass: Object.fromEntries(Object.entries(options.perClass ?? {}).filter(([k]) => has.has(k))),
        backgroundClasses: (options.backgroundClasses ?? []).filter((c) => has.has(c)),
        ...(control ? { control } : {}),
      };
    },
    onModel: (dir, { action, label }) =>
      info(
        `soundee: ${action === 'learn' ? `learned "${label}"` : `removed "${label}"`}; now running ${dir} (start with --model ${dir} to keep it)`,
      ),
  };
}

/**
 * What listen and replay do with their stream's outputs: print each prediction (a table, or a JSON
 * line with --json) and each event, and serve them (and the rendered windows, for the dashboard) when
 * there is a server. Everything printed or sent is the engine's one encoding; events are printed as
 * the server numbered them (the id `since` resumes from).
 */
export class StreamPrinter {
  /** Predictions seen. */
  windows = 0;
  /** Events started. */
  events = 0;
  /** End of the last window, ms from the start of the stream. */
  lastEndMs = 0;

  constructor(
    private readonly json: boolean,
    private readonly server: SoundeeServer | undefined,
    private readonly out: (line: string) => void = (line) => void process.stdout.write(`${line}\n`),
    private readonly mqtt?: MqttSink,
  ) {}

  /** Takes every output of a stream (pass it to `tap` or `subscribe`). */
  readonly output = (o: StreamOutput): void => {
    if (o.type === 'window') this.server?.publishWindow(o.streamId, o.rendered);
    else if (o.type === 'prediction') {
      this.prediction(o.message, o.quiet);
      this.mqtt?.publishLevel(o.streamId, o.message.rmsDb);
    } else if (o.type === 'event') {
      if (o.event.phase === 'start') this.events++;
      const served = this.server?.publishEvent(o.message) ?? { type: 'event' as const, ...o.message };
      // without a server, the MQTT bridge numbers the events: --json prints the ids MQTT carries
      const msg = this.mqtt?.publishEvent(served) ?? served;
      this.out(this.json ? JSON.stringify(msg) : eventLine(o.message));
    }
  };

  private prediction(m: PredictionMessage, quiet: boolean): void {
    this.windows++;
    this.lastEndMs = m.endMs;
    if (this.json) this.out(JSON.stringify(m));
    else {
      if (this.windows === 1) this.out(predictionHeader);
      this.out(quiet ? quietRow(m) : predictionRow(m));
    }
    this.server?.publish({ ...m });
  }
}

/** The first Ctrl-C/SIGTERM of a command, and what a second one does. */
export interface StopSignals {
  /** Resolves with the first signal. */
  readonly received: Promise<NodeJS.Signals>;
  /** Whether a signal has arrived. */
  readonly stopped: boolean;
  /** Stops listening for signals. */
  dispose(): void;
}

/**
 * Listens for SIGINT and SIGTERM: the first resolves `received` (the command winds down, every open
 * event ending with reason `stopped`); a second calls `onSecond` (default: exit at once, 130 or 143).
 */
export function stopSignals(onSecond: (sig: NodeJS.Signals) => void = (sig) => process.exit(sig === 'SIGINT' ? 130 : 143)): StopSignals {
  let resolve!: (s: NodeJS.Signals) => void;
  const received = new Promise<NodeJS.Signals>((r) => (resolve = r));
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    if (++count === 1) resolve(sig);
    else onSecond(sig);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    received,
    get stopped() {
      return count > 0;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
