/** `soundee serve`: the WebSocket server with remote audio ingest and the live dashboard. */
import type { Command } from 'commander';
import { DEFAULT_SERVER_OPTIONS } from '../../server/limits.ts';
import { type ModelCliOptions, info, modelOptions, parseNumber } from '../common.ts';
import { type EventCliOptions, eventOptions } from '../event-options.ts';
import { type ServerCliOptions, openServing, serverOptions, stopSignals } from '../serving.ts';

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
    // every ingest stream runs through the engine: the level gate and the event layer, as listen and replay;
    // the limits (--history, --max-streams, …) reach the server through openServing's server settings
    const serving = await openServing(o, [], (engine, mqtt) => ({
      ingest: { engine },
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
