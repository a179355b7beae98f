/** `soundee listen`: classify a microphone live, turn the window labels into events, serve them. */
import { type ChildProcess } from 'node:child_process';
import { type Command, Option } from 'commander';
import { Subject, lastValueFrom, takeUntil, tap } from 'rxjs';
import { type MicStatus, RECORDERS, type RecorderName, exited, findRecorder, liveMicrophone } from '../../audio/recorder.ts';
import { SoundeeError } from '../../config.ts';
import { detectEvents, gateQuietWindows } from '../../events/operators.ts';
import { type ClassEventSettings, DEFAULT_EVENT_OPTIONS, type EventOptions, type SoundEvent, isQuiet, resolveEventOptions } from '../../events/tracker.ts';
import { BatchQueue } from '../../model/classifier.ts';
import { readMetadata } from '../../model/io.ts';
import { startServer } from '../../server/server.ts';
import { type Prediction, classifyStream } from '../../stream/operators.ts';
import { type ModelCliOptions, fail, info, modelOptions, openClassifier, parseNumber } from '../common.ts';
import { predictionHeader, predictionRow, roundPrediction } from '../format.ts';

interface ListenOptions extends ModelCliOptions {
  device?: string;
  recorder: RecorderName;
  json?: boolean;
  port?: number;
  host: string;
  smooth?: number;
  minDuration?: number;
  cooldown?: number;
  eventThreshold?: EventThresholds;
  background?: string[];
  silenceDb?: number;
}

interface EventThresholds {
  threshold?: number;
  perClass: Record<string, number>;
}

/** Parses one `--event-threshold` value (`0.5` or `water=0.6`) into the running collection. */
function parseEventThreshold(value: string, previous: EventThresholds | undefined): EventThresholds {
  const acc: EventThresholds = previous ?? { perClass: {} };
  const m = /^(?:([^=]+)=)?(.+)$/.exec(value.trim());
  const p = Number(m?.[2]);
  if (!m || !(p > 0 && p <= 1)) fail(`--event-threshold takes P or CLASS=P with P in (0, 1], got "${value}"`, 2);
  if (m[1] === undefined) acc.threshold = p;
  else acc.perClass[m[1].trim()] = p;
  return acc;
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** An event as printed and published (confidences rounded like predictions'). */
const eventMessage = (e: SoundEvent) => ({ type: 'event' as const, ...e, peakConfidence: round4(e.peakConfidence), meanConfidence: round4(e.meanConfidence) });

const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** A table row for a window under the level gate: the model's output on it means nothing, so none is shown. */
const quietRow = (p: Prediction) =>
  `${(p.startMs / 1000).toFixed(2).padStart(7)}–${(p.endMs / 1000).toFixed(2)} s  ${'(quiet)'.padEnd(20)} ${Number.isFinite(p.rmsDb) ? `${p.rmsDb.toFixed(0)} dBFS` : 'digital silence'}`;

/** One line per event for the table output. */
function eventLine(e: SoundEvent): string {
  return e.phase === 'start'
    ? `▶ ${e.label} started at ${sec(e.startMs)} (peak ${e.peakConfidence.toFixed(2)})`
    : `■ ${e.label} ended: ${sec(e.startMs)}–${sec(e.endMs!)}, ${sec(e.endMs! - e.startMs)} (peak ${e.peakConfidence.toFixed(2)}, mean ${e.meanConfidence.toFixed(2)})`;
}

/** The event options the command line asks for (unset ones keep the event layer's defaults). */
function eventOptionsOf(o: ListenOptions, modelBackground: readonly string[]): EventOptions {
  const perClass: Record<string, Partial<ClassEventSettings>> = {};
  for (const [k, v] of Object.entries(o.eventThreshold?.perClass ?? {})) perClass[k] = { threshold: v };
  return {
    backgroundClasses: [...new Set([...modelBackground, ...(o.background ?? [])])],
    perClass,
    ...(o.silenceDb === undefined ? {} : { silenceDb: o.silenceDb }),
    ...(o.smooth === undefined ? {} : { smoothWindows: o.smooth }),
    ...(o.eventThreshold?.threshold === undefined ? {} : { threshold: o.eventThreshold.threshold }),
    ...(o.minDuration === undefined ? {} : { minDurationMs: o.minDuration }),
    ...(o.cooldown === undefined ? {} : { cooldownMs: o.cooldown }),
  };
}

export function listenCommand(program: Command): void {
  modelOptions(
    program
      .command('listen')
      .description('classify a microphone live: one prediction per 250 ms hop, start/end events per sound; optionally served over WebSocket. Runs until Ctrl-C/SIGTERM')
      .option('--device <name>', 'input device (see `soundee devices`); default: the system default input')
      .addOption(new Option('--recorder <program>', 'recording program (node-record-lpcm16): sox, rec or arecord (ALSA, Linux)').choices([...RECORDERS]).default('sox'))
      .option('--json', 'print one JSON object per line instead of a table: predictions, events and status reports, each with a "type"')
      .option('--port <n>', 'also serve predictions, events and status over WebSocket on this port (0 = any free port)', parseNumber('--port', { min: 0, max: 65535, integer: true }))
      .option('--host <addr>', 'interface for --port', '127.0.0.1')
      .option('--smooth <n>', `events: moving average over this many windows (default ${DEFAULT_EVENT_OPTIONS.smoothWindows})`, parseNumber('--smooth', { min: 1, max: 1000, integer: true }))
      .option('--event-threshold <p|class=p...>', `events: smoothed probability that starts an event, for all classes or one (default ${DEFAULT_EVENT_OPTIONS.threshold}; ends under ¾ of it)`, parseEventThreshold)
      .option('--min-duration <ms>', `events: shortest sound reported (default ${DEFAULT_EVENT_OPTIONS.minDurationMs}; one window is 1000)`, parseNumber('--min-duration', { min: 0 }))
      .option('--cooldown <ms>', `events: quiet time after an event before the same class may start another (default ${DEFAULT_EVENT_OPTIONS.cooldownMs})`, parseNumber('--cooldown', { min: 0 }))
      .option('--background <class...>', "classes that never become events (added to the model's own background classes)")
      .option('--silence-db <dBFS>', `windows quieter than this are "nothing heard": labelled unknown, never an event (default ${DEFAULT_EVENT_OPTIONS.silenceDb})`, parseNumber('--silence-db', { max: 0 })),
  ).action(async (o: ListenOptions) => {
    // Fail before loading anything when the recorder cannot work.
    findRecorder(o.recorder);
    if (o.device !== undefined && o.recorder === 'rec') fail('--recorder rec cannot select a device (node-record-lpcm16 passes none); use --recorder sox --device NAME', 2);
    const meta = await readMetadata(o.model);
    const classifier = await openClassifier(o);
    const c = classifier.features;
    const eventOptions = eventOptionsOf(o, meta.backgroundClasses ?? []);
    const silenceDb = eventOptions.silenceDb ?? DEFAULT_EVENT_OPTIONS.silenceDb;
    try {
      resolveEventOptions(classifier.classes, eventOptions);
    } catch (e) {
      classifier.dispose();
      if (e instanceof SoundeeError) fail(e.message, 2);
      throw e;
    }

    const streamId = o.device === undefined ? 'mic' : `mic:${o.device}`;
    const server =
      o.port === undefined
        ? undefined
        : await startServer({
            host: o.host,
            port: o.port,
            hello: () => ({
              model: { name: classifier.name, architecture: classifier.architecture },
              classes: classifier.classes,
              features: c,
              confidenceThreshold: classifier.threshold,
              streams: [streamId],
            }),
          }).catch((e: unknown) => {
            classifier.dispose();
            throw e;
          });
    if (server) info(`soundee: serving predictions and events on ws://${server.host}:${server.port}/`);

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

    let windows = 0;
    const onPrediction = (p: Prediction) => {
      windows++;
      const r = roundPrediction(p);
      if (o.json) out(JSON.stringify({ type: 'prediction', ...r }));
      else {
        if (windows === 1) out(predictionHeader);
        out(isQuiet(p, silenceDb) ? quietRow(r) : predictionRow(r));
      }
      server?.publish({ type: 'prediction', ...r });
    };
    const onEvent = (e: SoundEvent) => {
      // the server numbers events (id, for `since` resumes); print what it sent
      const msg = server?.publish(eventMessage(e)) ?? eventMessage(e);
      out(o.json ? JSON.stringify(msg) : eventLine(e));
    };

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
        classifyStream(mic$, { streamId, queue: new BatchQueue(classifier) }).pipe(gateQuietWindows(silenceDb), tap(onPrediction), detectEvents(classifier.classes, eventOptions), tap(onEvent)),
        { defaultValue: undefined },
      );
      status({ kind: 'stream', streamId, state: 'ended', source, windows });
      info(`soundee: stopped listening after ${windows} windows`);
    } catch (e) {
      try {
        status({ kind: 'stream', streamId, state: 'failed', source, windows, reason: e instanceof Error ? e.message : String(e) });
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
      classifier.dispose();
    }
  });
}
