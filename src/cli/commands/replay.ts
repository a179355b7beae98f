/** `soundee replay <file.wav>`: classify a recording window by window and detect its sound events, as `listen` does live. */
import { basename } from 'node:path';
import type { Command } from 'commander';
import { type Observable, concatMap, defer, filter, from, lastValueFrom, map, repeat, tap } from 'rxjs';
import { WavReader } from '../../audio/wav-reader.ts';
import type { StreamEndedOutput } from '../../engine/outputs.ts';
import { Backlog } from '../../stream/operators.ts';
import { type Pace, fromWavReader } from '../../stream/sources.ts';
import { type ModelCliOptions, info, modelOptions, parseNumber } from '../common.ts';
import { type EventCliOptions, eventOptions } from '../event-options.ts';
import { type ServerCliOptions, StreamPrinter, openServing, serverOptions, stopSignals } from '../serving.ts';

interface ReplayOptions extends ModelCliOptions, ServerCliOptions, EventCliOptions {
  json?: boolean;
  realtime?: boolean;
  loop?: boolean;
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
            'WAV file: 8/16/24/32-bit integer or 32/64-bit float PCM, any rate (resampled), any channel count (downmixed), any length (read as a stream)',
          )
          .option('--json', 'print one JSON object per line instead of a table: predictions and events, each with a "type"')
          .option('--realtime', 'pace the file in real time (as if it were being recorded) instead of as fast as possible')
          .option('--loop', 'replay the file again and again, as one endless stream, until Ctrl-C')
          .option(
            '--port <n>',
            'also serve predictions, events and the live dashboard on this port (0 = any free port); the server stays up after the end of the file until Ctrl-C',
            parseNumber('--port', { min: 0, max: 65535, integer: true }),
          ),
      ),
    ),
  ).action(replay);
}

async function replay(file: string, o: ReplayOptions): Promise<void> {
  // the file is checked before the model loads: a wrong path fails at once
  const first = await WavReader.open(file);
  // the stream is named by the file's name: clients see no local paths
  const streamId = basename(file);
  let serving: Awaited<ReturnType<typeof openServing>>;
  try {
    serving = await openServing(o, [streamId]);
  } catch (e) {
    await first.close();
    throw e;
  }
  const { engine, server } = serving;
  const printer = new StreamPrinter(o.json === true, server, undefined, serving.mqtt);
  const signals = stopSignals();
  const pace: Pace = o.realtime ? 'realtime' : 'fast';
  const backlog = new Backlog();
  const pass = (reader: WavReader) => fromWavReader(reader, { pace, gate: backlog });
  // --loop: the file over and over, one stream whose time runs on (each pass opens the file afresh)
  const source: Observable<Float32Array> = o.loop
    ? defer(() => from(first.close())).pipe(concatMap(() => defer(() => from(WavReader.open(file))).pipe(concatMap(pass), repeat())))
    : pass(first);
  const started = performance.now();
  let ended: StreamEndedOutput | undefined;
  try {
    ended = (await lastValueFrom(
      engine
        .stream(source, streamId, {
          sampleRateHz: first.sampleRateHz,
          backlog,
          stop: from(signals.received).pipe(map(() => 'stopped' as const)),
        })
        .pipe(
          tap(printer.output),
          filter((x) => x.type === 'ended'),
        ),
    )) as StreamEndedOutput;
    summarize(file, printer, performance.now() - started, ended.reason);
    if (server && !signals.stopped) {
      info(`soundee: end of ${streamId}; still serving on port ${server.port} (Ctrl-C to stop)`);
      await signals.received;
    }
  } finally {
    signals.dispose();
    await first.close();
    await serving.close();
  }
}

function summarize(file: string, printer: StreamPrinter, wallMs: number, reason: string): void {
  const { windows, events, lastEndMs } = printer;
  info(
    `soundee: ${windows} window${windows === 1 ? '' : 's'}, ${(lastEndMs / 1000).toFixed(2)} s of audio in ${(wallMs / 1000).toFixed(2)} s (${(lastEndMs / wallMs).toFixed(1)}× real time), ${events} event${events === 1 ? '' : 's'}${reason === 'stopped' ? ` (stopped before the end of ${basename(file)})` : ''}`,
  );
}
