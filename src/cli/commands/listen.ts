/** `soundee listen`: classify a microphone live, turn the window labels into events, serve them. */
import type { ChildProcess } from 'node:child_process';
import { type Command, Option } from 'commander';
import { Subject, lastValueFrom, takeUntil, tap } from 'rxjs';
import { type MicStatus, RECORDERS, type RecorderName, exited, findRecorder, liveMicrophone } from '../../audio/recorder.ts';
import { detectEvents, gateQuietWindows } from '../../events/operators.ts';
import { BatchQueue } from '../../model/classifier.ts';
import { type RenderedWindow, classifyStream } from '../../stream/operators.ts';
import { type ModelCliOptions, fail, info, modelOptions, parseNumber } from '../common.ts';
import { type EventCliOptions, eventOptions } from '../event-options.ts';
import { type ServerCliOptions, StreamPrinter, openServing, serverOptions } from './serve.ts';

interface ListenOptions extends ModelCliOptions, ServerCliOptions, EventCliOptions {
  device?: string;
  recorder: RecorderName;
  json?: boolean;
  port?: number;
}

export function listenCommand(program: Command): void {
  modelOptions(
    eventOptions(
      serverOptions(
        program
          .command('listen')
          .description(
            'classify a microphone live: one prediction per 250 ms hop, start/end events per sound; optionally served over WebSocket. Runs until Ctrl-C/SIGTERM',
          )
          .option('--device <name>', 'input device (see `soundee devices`); default: the system default input')
          .addOption(
            new Option('--recorder <program>', 'recording program (node-record-lpcm16): sox, rec or arecord (ALSA, Linux)')
              .choices([...RECORDERS])
              .default('sox'),
          )
          .option('--json', 'print one JSON object per line instead of a table: predictions, events and status reports, each with a "type"')
          .option(
            '--port <n>',
            'also serve predictions, events, status and the dashboard over WebSocket on this port (0 = any free port)',
            parseNumber('--port', { min: 0, max: 65535, integer: true }),
          ),
      ),
    ),
  ).action(async (o: ListenOptions) => {
    // Fail before loading anything when the recorder cannot work.
    findRecorder(o.recorder);
    if (o.device !== undefined && o.recorder === 'rec')
      fail('--recorder rec cannot select a device (node-record-lpcm16 passes none); use --recorder sox --device NAME', 2);
    const streamId = o.device === undefined ? 'mic' : `mic:${o.device}`;
    const { classifier, events, server, mqtt } = await openServing(o, [streamId]);
    const c = classifier.features;
    const { silenceDb } = events;

    const out = (line: string) => void process.stdout.write(`${line}\n`);
    /** Prints (with --json) and serves a status message. */
    const status = (msg: { kind: string } & Record<string, unknown>) => {
      const m = { type: 'status' as const, ...msg };
      if (o.json) out(JSON.stringify(m));
      server?.publish(m);
    };
    // the microphone's reports: kind 'recorder', state = what happened (recorder-started, listening, restarting, silence…)
    const onStatus = (s: MicStatus) => {
      info(`soundee: ${s.level === 'info' ? '' : `${s.level}: `}${s.message}`);
      status({ kind: 'recorder', streamId, ...s, time: new Date(s.time).toISOString() });
    };
    const source = `${o.recorder}${o.device === undefined ? '' : `:${o.device}`}`;
    const children = new Set<ChildProcess>();
    const stop$ = new Subject<void>();
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      if (++signals > 1) {
        info(`soundee: ${sig} again: exiting now`);
        for (const ch of children) ch.kill('SIGKILL');
        process.exit(sig === 'SIGINT' ? 130 : 143);
      }
      info(`soundee: ${sig}: stopping`);
      stop$.next();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    const printer = new StreamPrinter(o.json === true, silenceDb, server, out, mqtt);

    const mic$ = liveMicrophone({
      sampleRateHz: c.sampleRateHz,
      recorder: o.recorder,
      ...(o.device === undefined ? {} : { device: o.device }),
      onStatus,
      onSpawn: (child) => {
        children.add(child);
        void exited(child).then(() => children.delete(child));
      },
    }).pipe(takeUntil(stop$));
    status({ kind: 'stream', streamId, state: 'started', source, sampleRateHz: c.sampleRateHz });
    try {
      // The same feature path as training and replay: classifyStream renders with the model's own feature config.
      await lastValueFrom(
        classifyStream(mic$, {
          streamId,
          queue: new BatchQueue(classifier),
          // the dashboard's spectrogram and model-input view (skipped while nobody watches)
          ...(server ? { onRendered: (r: RenderedWindow) => server.publishWindow(streamId, r) } : {}),
        }).pipe(gateQuietWindows(silenceDb), tap(printer.prediction), detectEvents(classifier.classes, events.options), tap(printer.event)),
        { defaultValue: undefined },
      );
      status({ kind: 'stream', streamId, state: 'ended', source, windows: printer.windows });
      info(`soundee: stopped listening after ${printer.windows} windows`);
    } catch (e) {
      try {
        status({
          kind: 'stream',
          streamId,
          state: 'failed',
          source,
          windows: printer.windows,
          reason: e instanceof Error ? e.message : String(e),
        });
      } catch {
        // the original error matters more
      }
      throw e;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      // unsubscribing sent SIGTERM (SIGKILL after 2 s); wait so that no recorder outlives us
      await Promise.all([...children].map(exited));
      await server?.close();
      await mqtt?.close();
      classifier.dispose();
    }
  });
}
