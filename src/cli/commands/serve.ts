/** `soundee serve`: the WebSocket server with remote audio ingest and the live dashboard. */
import type { Command } from 'commander';
import { type ModelCliOptions, info, modelOptions, parseNumber } from '../common.ts';
import { type EventCliOptions, eventOptions } from '../event-options.ts';
import { type ServerCliOptions, openServing, serverOptions, stopSignals } from '../serving.ts';

/** Defaults of `soundee serve`. */
export const SERVE_DEFAULTS = Object.freeze({ port: 8080, history: 1000, maxStreams: 16 });

interface ServeOptions extends ModelCliOptions, ServerCliOptions, EventCliOptions {
  port: number;
  history: number;
  maxStreams: number;
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
            SERVE_DEFAULTS.port,
          )
          .option(
            '--history <n>',
            'events held for clients that reconnect with since',
            parseNumber('--history', { min: 1, max: 1_000_000, integer: true }),
            SERVE_DEFAULTS.history,
          )
          .option(
            '--max-streams <n>',
            'ingest streams open at once',
            parseNumber('--max-streams', { min: 1, max: 1024, integer: true }),
            SERVE_DEFAULTS.maxStreams,
          ),
      ),
    ),
  ).action(async (o: ServeOptions) => {
    // every ingest stream runs through the engine: the level gate and the event layer, as listen and replay
    const serving = await openServing(o, [], (engine, mqtt) => ({
      ingest: { engine },
      historySize: o.history,
      maxStreams: o.maxStreams,
      // every event, with the id WebSocket clients see, to the broker too
      ...(mqtt ? { onEvent: (e) => void mqtt.publishEvent(e) } : {}),
    }));
    // each window's level, of every ingest stream, to the broker: a sink on the engine's outputs
    const { mqtt } = serving;
    const levels = mqtt
      ? serving.engine.outputs.subscribe((out) => {
          if (out.type === 'prediction') mqtt.publishLevel(out.streamId, out.message.rmsDb);
        })
      : undefined;
    const signals = stopSignals();
    await signals.received;
    info('soundee: shutting down');
    levels?.unsubscribe();
    await serving.close();
    signals.dispose();
  });
}
