/** `soundee replay <file.wav>`: classify a recording window by window and detect its sound events, as `listen` does live. */
import type { Command } from 'commander';
import { lastValueFrom, tap } from 'rxjs';
import { detectEvents, gateQuietWindows } from '../../events/operators.ts';
import { BatchQueue } from '../../model/classifier.ts';
import { Backlog, type RenderedWindow, classifyStream } from '../../stream/operators.ts';
import { fromWavFile } from '../../stream/sources.ts';
import { type ModelCliOptions, info, modelOptions, parseNumber } from '../common.ts';
import { type EventCliOptions, eventOptions } from '../event-options.ts';
import { type ServerCliOptions, StreamPrinter, openServing, serverOptions } from './serve.ts';

interface ReplayOptions extends ModelCliOptions, ServerCliOptions, EventCliOptions {
  json?: boolean;
  realtime?: boolean;
  port?: number;
}

export function replayCommand(program: Command): void {
  modelOptions(
    eventOptions(
      serverOptions(
        program
          .command('replay')
          .description(
            'classify a WAV file window by window (one line per hop) and detect its sound events exactly as `listen` does live: the way to try event settings (--smooth, --event-threshold, --min-duration, --cooldown, --silence-db) on a recording; optionally serve the predictions, events and dashboard',
          )
          .argument(
            '<file.wav>',
            'WAV file: 8/16/24/32-bit integer or 32-bit float PCM, any rate (resampled), any channel count (downmixed)',
          )
          .option('--json', 'print one JSON object per line instead of a table: predictions and events, each with a "type"')
          .option('--realtime', 'pace the file in real time (as if it were being recorded) instead of as fast as possible')
          .option(
            '--port <n>',
            'also serve predictions, events and the live dashboard on this port (0 = any free port)',
            parseNumber('--port', { min: 0, max: 65535, integer: true }),
          ),
      ),
    ),
  ).action(async (file: string, o: ReplayOptions) => {
    const { classifier, events, server, mqtt } = await openServing(o, [file]);
    const c = classifier.features;
    const { silenceDb } = events;
    const queue = new BatchQueue(classifier);

    const printer = new StreamPrinter(o.json === true, silenceDb, server, undefined, mqtt);

    const backlog = new Backlog();
    const started = performance.now();
    let wallMs = 0;
    try {
      // the same post-processing as listen and serve: the level gate, then the event layer
      await lastValueFrom(
        classifyStream(fromWavFile(file, { sampleRateHz: c.sampleRateHz, pace: o.realtime ? 'realtime' : 'fast', gate: backlog }), {
          streamId: file,
          queue,
          backlog,
          // the dashboard's spectrogram and model-input view (skipped while nobody watches)
          ...(server ? { onRendered: (r: RenderedWindow) => server.publishWindow(file, r) } : {}),
        }).pipe(gateQuietWindows(silenceDb), tap(printer.prediction), detectEvents(classifier.classes, events.options), tap(printer.event)),
        { defaultValue: undefined },
      );
      wallMs = performance.now() - started; // the pipeline's time, not the broker's acknowledgements
    } finally {
      await server?.close();
      // waits for the broker's acknowledgements (bounded), then says offline
      await mqtt?.close();
      classifier.dispose();
    }
    const { windows, events: eventCount, lastEndMs } = printer;
    if (windows === 0) info(`soundee: ${file} is shorter than one ${c.windowMillis} ms window; nothing to classify`);
    else
      info(
        `soundee: ${windows} windows, ${(lastEndMs / 1000).toFixed(2)} s of audio in ${(wallMs / 1000).toFixed(2)} s (${(lastEndMs / wallMs).toFixed(1)}× real time), ${eventCount} event${eventCount === 1 ? '' : 's'}`,
      );
  });
}
