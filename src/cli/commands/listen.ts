/** `soundee listen`: classify a microphone live, turn the window labels into events, serve them. */
import type { ChildProcess } from 'node:child_process';
import { type Command, Option } from 'commander';
import { filter, from, lastValueFrom, map, tap } from 'rxjs';
import { listInputDevices } from '../../audio/devices.ts';
import {
  DEFAULT_MICROPHONE,
  type MicStatus,
  RECORDERS,
  type RecorderName,
  exited,
  findRecorder,
  liveMicrophone,
} from '../../audio/recorder.ts';
import { SoundeeError } from '../../config.ts';
import type { StreamEndedOutput } from '../../engine/outputs.ts';
import { type ModelCliOptions, fail, info, modelOptions, parseNumber } from '../common.ts';
import { type EventCliOptions, eventOptions } from '../event-options.ts';
import { type ServerCliOptions, StreamPrinter, openServing, serverOptions, stopSignals } from '../serving.ts';

interface ListenOptions extends ModelCliOptions, ServerCliOptions, EventCliOptions {
  device?: string;
  recorder: RecorderName;
  captureRate: number;
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
          .option(
            '--capture-rate <Hz>',
            "rate to record at: the device's own rate, so that the one resampling rule of files and ingest brings it to the model's",
            parseNumber('--capture-rate', { min: 8000, max: 192000, integer: true }),
            DEFAULT_MICROPHONE.captureRateHz,
          )
          .option('--json', 'print one JSON object per line instead of a table: predictions, events and status reports, each with a "type"')
          .option(
            '--port <n>',
            'also serve predictions, events, status and the dashboard over WebSocket on this port (0 = any free port)',
            parseNumber('--port', { min: 0, max: 65535, integer: true }),
          ),
      ),
    ),
  ).action(listen);
}

async function listen(o: ListenOptions): Promise<void> {
  // Fail before loading anything when the recorder cannot work.
  findRecorder(o.recorder);
  if (o.device !== undefined && o.recorder === 'rec')
    fail('--recorder rec cannot select a device (node-record-lpcm16 passes none); use --recorder sox --device NAME', 2);
  const streamId = o.device === undefined ? 'mic' : `mic:${o.device}`;
  const serving = await openServing(o, [streamId]);
  const { engine, server } = serving;

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
  const signals = stopSignals((sig) => {
    info(`soundee: ${sig} again: exiting now`);
    for (const ch of children) ch.kill('SIGKILL');
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
  void signals.received.then((sig) => info(`soundee: ${sig}: stopping`));
  const printer = new StreamPrinter(o.json === true, server, out, serving.mqtt);
  // Recorded at the device's rate; the engine brings it to the model's by the rule files and ingest use.
  const mic$ = liveMicrophone({
    sampleRateHz: o.captureRate,
    recorder: o.recorder,
    ...(o.device === undefined ? {} : { device: o.device }),
    onStatus,
    onSpawn: (child) => {
      children.add(child);
      void exited(child).then(() => children.delete(child));
    },
  });
  status({ kind: 'stream', streamId, state: 'started', source, sampleRateHz: o.captureRate });
  try {
    const ended = (await lastValueFrom(
      engine.stream(mic$, streamId, { sampleRateHz: o.captureRate, stop: from(signals.received).pipe(map(() => 'stopped' as const)) }).pipe(
        tap(printer.output),
        filter((x) => x.type === 'ended'),
      ),
    )) as StreamEndedOutput;
    status({ kind: 'stream', streamId, state: 'ended', source, windows: ended.windows });
    info(`soundee: stopped listening after ${ended.windows} windows`);
  } catch (e) {
    reportFailure(status, { streamId, source, windows: printer.windows }, e);
    if (e instanceof SoundeeError && e.code === 'ERR_RECORDER_NO_INPUT') fail(await noInputAdvice(e.message, o));
    throw e;
  } finally {
    signals.dispose();
    // unsubscribing sent SIGTERM (SIGKILL after 2 s); wait so that no recorder outlives us
    await Promise.all([...children].map(exited));
    await serving.close();
  }
}

function reportFailure(
  status: (msg: { kind: string } & Record<string, unknown>) => void,
  s: { streamId: string; source: string; windows: number },
  e: unknown,
): void {
  try {
    status({ kind: 'stream', ...s, state: 'failed', reason: e instanceof Error ? e.message : String(e) });
  } catch {
    // the original error matters more
  }
}

/** What to do when no recorder run ever delivered audio: which devices exist, or what to install. */
async function noInputAdvice(message: string, o: ListenOptions): Promise<string> {
  const { devices, notes } = await listInputDevices();
  const inputs = devices.filter((d) => !d.monitor);
  const lines = [message];
  if (inputs.length) {
    lines.push(
      o.device === undefined
        ? 'the default input could not be opened; input devices found (pass one with --device):'
        : `--device ${o.device} could not be opened; input devices found:`,
    );
    for (const d of inputs) lines.push(`  ${d.name}  ${d.description}\n      ${d.listen}`);
  } else {
    lines.push('no input device was found. Plug in a microphone, or install and start a sound server:');
    lines.push('  Debian/Ubuntu/Raspberry Pi OS: sudo apt-get install pulseaudio pulseaudio-utils alsa-utils sox libsox-fmt-all');
    for (const n of notes) lines.push(`  (${n})`);
  }
  lines.push('`soundee devices` lists what can be recorded from; docs/listen.md has more.');
  return lines.join('\n');
}
