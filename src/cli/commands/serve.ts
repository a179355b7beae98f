/** `soundee serve`: the WebSocket server with remote audio ingest and the live dashboard. */
import type { Command } from 'commander';
import { pipe, tap } from 'rxjs';
import { detectEvents, gateQuietWindows } from '../../events/operators.ts';
import { BatchQueue } from '../../model/classifier.ts';
import { DEFAULT_SERVER_OPTIONS, type SoundeeServer, type ServerOptions, helloFor, startServer } from '../../server/server.ts';
import { type SoundEvent, isQuiet } from '../../events/tracker.ts';
import type { Classifier } from '../../model/classifier.ts';
import type { Prediction } from '../../stream/operators.ts';
import { eventLine, eventMessage, predictionHeader, predictionRow, quietRow, roundPrediction } from '../format.ts';
import { type ModelCliOptions, fail, info, modelOptions, openClassifier, parseNumber } from '../common.ts';
import { type ServerCliOptions, announce, serverOptions, serverSettings } from '../server-options.ts';
import { type EventCliOptions, type EventSettings, eventOptions, eventSettingsFor } from '../event-options.ts';
import { openMqtt } from '../mqtt-options.ts';
import type { MqttBridge, MqttSink } from '../../mqtt/bridge.ts';
import type { EventMessage } from '../../protocol/index.ts';

// the serving options live in ../server-options.ts (listen and replay still import them from here)
export { type ServerCliOptions, announce, serverOptions, serverSettings } from '../server-options.ts';

/** What a serving command opens before its stream: the classifier, its event settings and, with a port, the server. */
export interface Serving {
  classifier: Classifier;
  events: EventSettings;
  /** Undefined without a port. */
  server: SoundeeServer | undefined;
  /** The MQTT bridge (connecting in the background); undefined without --mqtt. */
  mqtt: MqttBridge | undefined;
}

/**
 * The start shared by serve, listen and replay: the security settings (warning when exposed without
 * a token), the classifier, the event settings (bad ones refused before anything records), and with
 * `o.port` the server, its hello naming `streams`, announced on stderr. Whatever fails after the
 * classifier loaded disposes it; a busy port or an unknown address gets one clear line (exit 1).
 */
export async function openServing(
  o: ModelCliOptions & EventCliOptions & ServerCliOptions & { port?: number },
  streams: string[],
  more: (
    classifier: Classifier,
    events: EventSettings,
    mqtt: MqttBridge | undefined,
  ) => Omit<ServerOptions, 'host' | 'token' | 'origins' | 'port' | 'hello'> = () => ({}),
): Promise<Serving> {
  const security = o.port === undefined ? undefined : serverSettings(o);
  const classifier = await openClassifier(o);
  let events: EventSettings;
  let server: SoundeeServer | undefined;
  let mqtt: MqttBridge | undefined;
  try {
    events = eventSettingsFor(o, classifier);
    // with --mqtt: the bridge, and its run-time control in events.options (set commands)
    mqtt = openMqtt(o, classifier, events);
    const bridge = mqtt;
    if (security && o.port !== undefined)
      server = await startServer({
        ...security,
        port: o.port,
        hello: () => ({ ...helloFor(classifier, streams), ...(bridge ? { mqtt: bridge.status() } : {}) }),
        ...more(classifier, events, mqtt),
      });
  } catch (e) {
    await mqtt?.close(0);
    classifier.dispose();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') fail(`port ${o.port} on ${o.host} is already in use; choose another with --port (0 = any free port)`);
    if (code === 'EADDRNOTAVAIL') fail(`cannot listen on ${o.host}: no such local address`);
    throw e;
  }
  if (server) announce(server, security?.token !== undefined);
  return { classifier, events, server, mqtt };
}

/**
 * What listen and replay do with their stream's output: print each prediction (a table, or a JSON
 * line with --json) and each event, and serve them when there is a server. Events are printed as the
 * server numbered them (the id of `since` resumes).
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
    private readonly silenceDb: number,
    private readonly server: SoundeeServer | undefined,
    private readonly out: (line: string) => void = (line) => void process.stdout.write(`${line}\n`),
    private readonly mqtt?: MqttSink,
  ) {}

  readonly prediction = (p: Prediction): void => {
    this.windows++;
    this.lastEndMs = p.endMs;
    const r = roundPrediction(p);
    if (this.json) this.out(JSON.stringify({ type: 'prediction', ...r }));
    else {
      if (this.windows === 1) this.out(predictionHeader);
      this.out(isQuiet(p, this.silenceDb) ? quietRow(r) : predictionRow(r));
    }
    this.server?.publish({ type: 'prediction', ...r });
    this.mqtt?.publishLevel(p.streamId, p.rmsDb);
  };

  readonly event = (e: SoundEvent): void => {
    if (e.phase === 'start') this.events++;
    const served = this.server?.publishEvent(eventMessage(e)) ?? eventMessage(e);
    // without a server, the MQTT bridge numbers the events: --json prints the ids MQTT carries
    const msg = this.mqtt?.publishEvent(served) ?? served;
    this.out(this.json ? JSON.stringify(msg) : eventLine(e));
  };
}

interface ServeOptions extends ModelCliOptions, ServerCliOptions, EventCliOptions {
  port: number;
}

export function serveCommand(program: Command): void {
  modelOptions(
    eventOptions(
      serverOptions(
        program
          .command('serve')
          .description(
            'serve the dashboard, predictions and events over WebSocket, and classify audio that apps stream in (/v1/ingest); events are detected per stream as `listen` does',
          )
          .option(
            '--port <n>',
            'port (0 = any free port)',
            parseNumber('--port', { min: 0, max: 65535, integer: true }),
            DEFAULT_SERVER_OPTIONS.port,
          ),
        { ingest: true },
      ),
    ),
  ).action(async (o: ServeOptions) => {
    const { classifier, server, mqtt } = await openServing(o, [], (classifier, events, mqtt) => {
      const queue = new BatchQueue(classifier);
      return {
        // the post-processing of listen and replay, per ingest stream: the level gate ("nothing heard"), then the event layer
        ingest: {
          queue,
          postprocess: () =>
            mqtt
              ? pipe(
                  gateQuietWindows(events.silenceDb),
                  tap((p) => mqtt.publishLevel(p.streamId, p.rmsDb)),
                )
              : gateQuietWindows(events.silenceDb),
          events: () => detectEvents(classifier.classes, events.options),
        },
        // every event, with the id WebSocket clients see, to the broker too
        ...(mqtt ? { onEvent: (e: EventMessage) => void mqtt.publishEvent(e) } : {}),
      };
    });
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    info('soundee: shutting down');
    await server!.close();
    await mqtt?.close();
    classifier.dispose();
  });
}
