/**
 * Microphone input: `node-record-lpcm16` (sox, rec or arecord in a child process) wrapped as an RxJS
 * Observable of raw PCM, and a supervised live source on top of it that watches the input's health and
 * restarts a recorder that exits or stalls, with back-off.
 *
 * node-record-lpcm16 is used as it is, with three things fixed around it: it emits errors as strings
 * (here: `RecorderError`s with a stable `code`), it defaults to WAV-headered output (here: raw 16-bit
 * little-endian PCM, `audioType: 'raw'`), and it does not listen for the child's `error` event (a
 * missing binary would crash the process; here it is checked up front and caught).
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Observable, type SchedulerLike, type Subscriber, type Subscription, asyncScheduler, interval } from 'rxjs';
import { SoundeeError } from '../config.ts';
import { Backoff, type HealthChange, HealthMonitor, type HealthOptions, type RestartOptions, StreamClock } from './health.ts';
import { PcmDecoder } from './pcm.ts';

/** The recorder programs node-record-lpcm16 can drive. */
export const RECORDERS = ['sox', 'rec', 'arecord'] as const;
export type RecorderName = (typeof RECORDERS)[number];

/** Error codes of the microphone input. */
export type RecorderErrorCode =
  /** The recorder program is not installed (or not on PATH). */
  | 'ERR_RECORDER_MISSING'
  /** An option the recorder cannot honour (unknown recorder, a device with `rec`). */
  | 'ERR_RECORDER_OPTIONS'
  /** The recorder could not be started (other than missing). */
  | 'ERR_RECORDER_SPAWN'
  /** The recorder exited with a non-zero status or was killed by a signal it was not sent by us. */
  | 'ERR_RECORDER_EXIT'
  /** The recorder delivered no audio for too long (it is killed and restarted). */
  | 'ERR_RECORDER_STALLED'
  /** No recorder run ever delivered audio: `maxStartFailures` starts failed in a row (no input device, no sound server). */
  | 'ERR_RECORDER_NO_INPUT'
  /** Any other error node-record-lpcm16 reported. */
  | 'ERR_RECORDER';

/** An error of the microphone input, with what is known about the recorder process. */
export class RecorderError extends SoundeeError {
  declare readonly code: RecorderErrorCode;
  constructor(
    code: RecorderErrorCode,
    message: string,
    readonly details: { recorder?: string; exitCode?: number | null; signal?: NodeJS.Signals | null; stderr?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'RecorderError';
  }
}

/** Errors that restarting cannot cure. */
export const isFatalRecorderError = (e: unknown): boolean =>
  e instanceof SoundeeError && (e.code === 'ERR_RECORDER_MISSING' || e.code === 'ERR_RECORDER_OPTIONS');

/** Which package provides each recorder, per platform. */
const INSTALL: Record<RecorderName, string> = {
  sox: [
    '  Debian/Ubuntu (and Raspberry Pi OS): sudo apt-get install sox libsox-fmt-all',
    '  macOS (Homebrew):                   brew install sox',
    '  Windows: install SoX (https://sourceforge.net/projects/sox/files/sox/) and add its folder to PATH',
  ].join('\n'),
  rec: '', // same as sox (rec is part of SoX)
  arecord: [
    '  Debian/Ubuntu (and Raspberry Pi OS): sudo apt-get install alsa-utils',
    '  macOS and Windows have no arecord (it is ALSA, Linux only): use --recorder sox',
  ].join('\n'),
};
INSTALL.rec = INSTALL.sox;

/**
 * Finds a recorder program on the PATH.
 * @param env where PATH (and on Windows PATHEXT) come from. Default `process.env`, which the recorder is spawned with.
 * @returns the program's path.
 * @throws RecorderError ERR_RECORDER_OPTIONS for an unknown recorder, ERR_RECORDER_MISSING (with install instructions) when absent.
 */
export function findRecorder(recorder: string, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (!(RECORDERS as readonly string[]).includes(recorder))
    throw new RecorderError('ERR_RECORDER_OPTIONS', `unknown recorder "${recorder}"; expected one of ${RECORDERS.join(', ')}`, {
      recorder,
    });
  const exts = platform === 'win32' ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';').filter(Boolean)] : [''];
  for (const dir of (env.PATH ?? env.Path ?? '').split(platform === 'win32' ? ';' : delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const p = join(dir, recorder + ext);
      try {
        if (!statSync(p).isFile()) continue;
        if (platform !== 'win32') accessSync(p, constants.X_OK);
        return p;
      } catch {
        // not here
      }
    }
  }
  throw new RecorderError(
    'ERR_RECORDER_MISSING',
    `cannot record: "${recorder}" is not installed (not found on PATH). Install it:\n${INSTALL[recorder as RecorderName]}`,
    { recorder },
  );
}

/**
 * Turns what node-record-lpcm16 reports (strings like "sox has exited with error code 2. …", or Errors)
 * into a `RecorderError` with a stable code.
 */
export function toRecorderError(value: unknown, recorder: string, stderr = ''): RecorderError {
  if (value instanceof RecorderError) return value;
  const tail = stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : '';
  if (typeof value === 'string') {
    const m = /has exited with error code (-?\d+|null)/.exec(value);
    if (m) {
      const exitCode = m[1] === 'null' ? null : Number(m[1]);
      return new RecorderError(
        'ERR_RECORDER_EXIT',
        `${recorder} exited with ${exitCode === null ? 'a signal' : `code ${exitCode}`}${tail}`,
        { recorder, exitCode, stderr },
        { cause: value },
      );
    }
    return new RecorderError('ERR_RECORDER', `${recorder}: ${value.trim()}${tail}`, { recorder, stderr }, { cause: value });
  }
  const err = value as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT')
    return new RecorderError(
      'ERR_RECORDER_MISSING',
      `cannot record: "${recorder}" is not installed. Install it:\n${INSTALL[recorder as RecorderName] ?? INSTALL.sox}`,
      { recorder },
      { cause: value },
    );
  if (err?.code === 'EACCES' || err?.code === 'EPERM')
    return new RecorderError('ERR_RECORDER_SPAWN', `cannot start ${recorder}: ${err.message}`, { recorder }, { cause: value });
  if (err instanceof Error && /No such recorder/.test(err.message))
    return new RecorderError('ERR_RECORDER_OPTIONS', err.message, { recorder }, { cause: value });
  return new RecorderError(
    'ERR_RECORDER',
    `${recorder}: ${err instanceof Error ? err.message : String(value)}${tail}`,
    { recorder, stderr },
    { cause: value },
  );
}

/** Options of one recorder run. */
export interface RecorderOptions {
  /** Model rate; the recorder resamples to it. */
  sampleRateHz: number;
  /** Program: 'sox' (default, `sox --default-device`), 'rec' (the same with the default device only) or 'arecord' (ALSA, Linux). */
  recorder?: RecorderName;
  /**
   * Input device. sox/rec: an AUDIODEV name for sox's driver (with PulseAudio, a source name and
   * AUDIODRIVER=pulseaudio); arecord: an ALSA PCM (`hw:1,0`, `plughw:1`, `pulse`). Default: the system's default input.
   */
  device?: string;
  /** How long a recorder may take to exit after SIGTERM before it gets SIGKILL. Default 2000 ms. */
  killTimeoutMs?: number;
  /** Called with the recorder's child process once spawned (pid, awaiting its exit). */
  onSpawn?: (child: ChildProcess) => void;
}

interface Lpcm16Recording {
  process: ChildProcess;
  stream(): Readable;
}
const requireCjs = createRequire(import.meta.url);
const lpcm16 = requireCjs('node-record-lpcm16') as { record(options: Record<string, unknown>): Lpcm16Recording };

/** Resolves once `child` has exited and been reaped (immediately if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** SIGTERM, then SIGKILL after `graceMs` if the process is still there. */
export function terminate(child: ChildProcess, graceMs = 2000): Promise<void> {
  const done = exited(child);
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    void done.then(() => clearTimeout(timer));
  }
  return done;
}

const STDERR_KEEP = 4096;

/**
 * Records raw PCM: mono, signed 16-bit little-endian, at `sampleRateHz`, no header. Each subscription
 * starts its own recorder process; unsubscribing sends it SIGTERM (SIGKILL after `killTimeoutMs`).
 * The Observable completes when the recorder exits with status 0 and errors with a `RecorderError`
 * otherwise (the binary is checked before spawning: ERR_RECORDER_MISSING).
 */
export function recordPcm(options: RecorderOptions): Observable<Uint8Array> {
  const { sampleRateHz, recorder = 'sox', device, killTimeoutMs = 2000, onSpawn } = options;
  return new Observable<Uint8Array>((sub) => {
    findRecorder(recorder); // throws into sub.error
    if (device !== undefined && recorder === 'rec')
      throw new RecorderError(
        'ERR_RECORDER_OPTIONS',
        'node-record-lpcm16 runs rec without a device option; to name a device use --recorder sox (the same program) with --device',
        { recorder },
      );
    let rec: Lpcm16Recording;
    try {
      rec = lpcm16.record({ sampleRate: sampleRateHz, channels: 1, audioType: 'raw', recorder, device, endOnSilence: false });
    } catch (e) {
      throw toRecorderError(e, recorder);
    }
    const child = rec.process;
    const out = rec.stream();
    let over = false;
    let stderr = '';
    let spawnError: Error | undefined;
    let reported: unknown;
    // Listeners stay attached after teardown: node-record-lpcm16 emits its exit string on the stream even
    // when we stopped the recorder, and an 'error' event without a listener would throw.
    child.on('error', (e) => {
      spawnError ??= e;
    });
    out.on('error', (e: unknown) => {
      reported ??= e;
      // its own strings come from the exit; anything else is a broken pipe: stop the recorder
      if (typeof e !== 'string' && !over) child.kill('SIGTERM');
    });
    child.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-STDERR_KEEP);
    });
    out.on('data', (b: Buffer) => {
      if (!over) sub.next(b);
    });
    child.once('close', (code, signal) => {
      if (over) return;
      over = true;
      if (spawnError) sub.error(toRecorderError(spawnError, recorder));
      else if (code === 0) sub.complete();
      else {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const tail = stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : '';
        sub.error(
          new RecorderError(
            'ERR_RECORDER_EXIT',
            `${recorder} ${how}${tail}`,
            { recorder, exitCode: code, signal, stderr },
            { cause: reported },
          ),
        );
      }
    });
    if (child.pid !== undefined) onSpawn?.(child);
    return () => {
      if (over) return;
      over = true;
      void terminate(child, killTimeoutMs);
    };
  });
}

/** Kinds of status a live microphone reports. */
export type MicStatusKind = 'recorder-started' | 'listening' | 'recorder-stopped' | 'restarting' | HealthChange['condition'];

/** A status report of the live microphone. */
export interface MicStatus {
  state: MicStatusKind;
  level: 'info' | 'warning' | 'error';
  /** One line for people. */
  message: string;
  /** Wall-clock time of the report, ms since the epoch (the scheduler's clock). */
  time: number;
  /** Recorder run number (1, 2, … one per start). */
  run?: number;
  /** Recorder process id (recorder-started). */
  pid?: number;
  /** For health conditions: whether it started (true) or cleared. */
  active?: boolean;
  /** restarting: consecutive attempt and the wait before it. */
  attempt?: number;
  delayMs?: number;
  /** listening: silence inserted for the time the input was down, ms. */
  gapMs?: number;
  /** listening: wall-clock time of stream time 0 (ms since the epoch): a window's wall time is originMs + startMs. */
  originMs?: number;
  /** recorder-stopped: why. */
  error?: { code: string; message: string };
}

/** Options of the supervised live microphone. */
export interface MicrophoneOptions extends RecorderOptions {
  /** Health thresholds (dead stream, silence, clipping). */
  health?: Partial<HealthOptions>;
  /** Restart back-off. */
  restart?: Partial<RestartOptions>;
  /** Longest outage filled with silence to keep stream time on wall time. Default 60 000 ms. */
  maxGapFillMs?: number;
  /** How often the dead-stream watchdog looks. Default 250 ms. */
  checkEveryMs?: number;
  /** Receives every status report. */
  onStatus?: (s: MicStatus) => void;
  /** Timers and clock (a TestScheduler in tests). Default asyncScheduler (Date.now). */
  scheduler?: SchedulerLike;
  /** The recorder (tests pass a fake). Default `recordPcm`. */
  source?: (o: RecorderOptions) => Observable<Uint8Array>;
  /**
   * Starts that may fail in a row before any run has delivered audio, after which the microphone gives
   * up with ERR_RECORDER_NO_INPUT (no device, no sound server: restarting would not help). Once a run
   * has delivered audio, failures are restarted for ever, as a device that went away may come back.
   * Default `DEFAULT_MICROPHONE.maxStartFailures` (3).
   */
  maxStartFailures?: number;
}

/** Defaults of the live microphone. */
export const DEFAULT_MICROPHONE = Object.freeze({
  /** Rate to record at: what nearly every device and sound server (PulseAudio, PipeWire) runs at natively. */
  captureRateHz: 48_000,
  maxStartFailures: 3,
});

/**
 * A live microphone: mono Float32 chunks at `sampleRateHz`, for as long as it is subscribed. A recorder
 * that exits, fails or delivers nothing for `health.noDataMs` is killed if need be and restarted after a
 * capped exponential back-off; each step is reported through `onStatus`, and downstream sees one
 * continuous stream (outages filled with silence, so stream time stays on wall time). Errors only when
 * restarting cannot help (ERR_RECORDER_MISSING, ERR_RECORDER_OPTIONS, and ERR_RECORDER_NO_INPUT when the
 * first `maxStartFailures` starts all fail). Unsubscribing stops the recorder.
 */
export function liveMicrophone(options: MicrophoneOptions): Observable<Float32Array> {
  return new Observable<Float32Array>((sub) => {
    const mic = new MicrophoneSupervisor(options, sub);
    mic.begin();
    return () => mic.stop();
  });
}

/** One recorder run of a live microphone. */
interface Run {
  readonly run: number;
  sub?: Subscription;
  firstDataMs?: number;
  over: boolean;
}

/** The state of one subscription of `liveMicrophone`: the current recorder run, its health, restarts and the stream clock. */
class MicrophoneSupervisor {
  private readonly recorder: RecorderName;
  private readonly scheduler: SchedulerLike;
  private readonly health: HealthMonitor;
  private readonly backoff: Backoff;
  private readonly clock: StreamClock;
  private readonly what: string;
  private readonly maxStartFailures: number;
  private run = 0;
  private current: Run | undefined;
  private restartTimer: Subscription | undefined;
  private watchdog: Subscription | undefined;
  private stopped = false;
  /** Whether any run has delivered audio; until then, failed starts are counted. */
  private delivered = false;
  private startFailures = 0;

  constructor(
    private readonly o: MicrophoneOptions,
    private readonly sub: Subscriber<Float32Array>,
  ) {
    this.recorder = o.recorder ?? 'sox';
    this.scheduler = o.scheduler ?? asyncScheduler;
    this.health = new HealthMonitor(o.sampleRateHz, o.health);
    this.backoff = new Backoff(o.restart);
    this.clock = new StreamClock(o.sampleRateHz, o.maxGapFillMs);
    this.what = `${this.recorder}${o.device === undefined ? '' : ` (device ${o.device})`}`;
    this.maxStartFailures = o.maxStartFailures ?? DEFAULT_MICROPHONE.maxStartFailures;
  }

  private now(): number {
    return this.scheduler.now();
  }

  /** Starts the first recorder and the dead-stream watchdog. */
  begin(): void {
    this.watchdog = interval(this.o.checkEveryMs ?? 250, this.scheduler).subscribe(() => this.check());
    this.start();
  }

  /** Unsubscribed: stops the recorder and every timer. */
  stop(): void {
    this.stopped = true;
    this.watchdog?.unsubscribe();
    this.restartTimer?.unsubscribe();
    const r = this.current;
    this.current = undefined;
    if (r && !r.over) {
      r.over = true;
      r.sub?.unsubscribe();
    }
  }

  // a throwing status callback is the subscriber's problem: it ends the stream (and the recorder) as an error
  private report(s: Omit<MicStatus, 'time'>): void {
    try {
      this.o.onStatus?.({ ...s, time: this.now() });
    } catch (e) {
      if (!this.stopped) this.sub.error(e);
    }
  }

  private reportHealth(changes: HealthChange[], run: number): void {
    for (const c of changes)
      this.report({ state: c.condition, level: c.active ? 'warning' : 'info', message: c.message, active: c.active, run });
  }

  private fail(error: unknown): void {
    this.stopped = true;
    this.watchdog?.unsubscribe();
    this.sub.error(error);
  }

  /** A run ended (error, completion, stall): give up when restarting cannot help, else restart after the back-off. */
  private ended(r: Run, error: unknown): void {
    if (r.over || this.stopped) return;
    r.over = true;
    r.sub?.unsubscribe();
    if (this.current === r) this.current = undefined;
    if (error !== undefined && isFatalRecorderError(error)) return this.fail(error);
    const e = error === undefined ? undefined : toRecorderError(error, this.recorder);
    if (!this.delivered && ++this.startFailures >= this.maxStartFailures)
      return this.fail(
        new RecorderError(
          'ERR_RECORDER_NO_INPUT',
          `no audio input: ${this.what} failed ${this.startFailures} times in a row without delivering audio${e ? ` (last: ${e.message})` : ''}`,
          { recorder: this.recorder, ...(e?.details.stderr ? { stderr: e.details.stderr } : {}) },
          { cause: e },
        ),
      );
    this.report({
      state: 'recorder-stopped',
      level: 'warning',
      message: e ? e.message : `${this.recorder} ended`,
      run: r.run,
      ...(e ? { error: { code: e.code, message: e.message } } : {}),
    });
    const { attempt, delayMs } = this.backoff.next(r.firstDataMs === undefined ? 0 : this.now() - r.firstDataMs);
    this.report({
      state: 'restarting',
      level: 'info',
      message: `restarting ${this.recorder} in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt})`,
      attempt,
      delayMs,
      run: r.run,
    });
    this.restartTimer = this.scheduler.schedule(() => {
      this.restartTimer = undefined;
      if (!this.stopped) this.start();
    }, delayMs);
  }

  private start(): void {
    const r: Run = { run: ++this.run, over: false };
    this.current = r;
    const decoder = new PcmDecoder('s16le');
    this.health.startRun(this.now());
    const { sampleRateHz, device, killTimeoutMs } = this.o;
    const s = (this.o.source ?? recordPcm)({
      sampleRateHz,
      recorder: this.recorder,
      ...(device === undefined ? {} : { device }),
      ...(killTimeoutMs === undefined ? {} : { killTimeoutMs }),
      onSpawn: (child) => {
        this.o.onSpawn?.(child);
        this.report({
          state: 'recorder-started',
          level: 'info',
          message: `recording with ${this.what}, pid ${child.pid}`,
          pid: child.pid,
          run: r.run,
        });
      },
    }).subscribe({
      next: (bytes) => this.data(r, decoder.push(bytes)),
      error: (e: unknown) => this.ended(r, e),
      complete: () => this.ended(r, undefined),
    });
    if (r.over) s.unsubscribe();
    else r.sub = s;
  }

  /** A run's samples: silence first for an outage after a restart, then the samples; health watched. */
  private data(r: Run, samples: Float32Array): void {
    if (r.over || samples.length === 0) return;
    const t = this.now();
    const first = r.firstDataMs === undefined;
    if (first) r.firstDataMs = t;
    this.delivered = true;
    const fill = this.clock.arrive(samples.length, t, first);
    if (first) {
      const gapMs = Math.round((fill / this.o.sampleRateHz) * 1000);
      this.report({
        state: 'listening',
        level: 'info',
        message: `listening${gapMs ? ` (${(gapMs / 1000).toFixed(1)} s without input filled with silence)` : ''}`,
        run: r.run,
        gapMs,
        ...(this.clock.originMs === undefined ? {} : { originMs: this.clock.originMs }),
      });
    }
    this.reportHealth(this.health.push(samples, t), r.run);
    if (fill) this.sub.next(new Float32Array(fill));
    this.sub.next(samples);
  }

  /** The watchdog: health conditions, and a run that stalled is stopped (and restarted). */
  private check(): void {
    const r = this.current;
    if (!r || r.over) return;
    const t = this.now();
    this.reportHealth(this.health.check(t), r.run);
    if (this.health.stalled(t))
      this.ended(
        r,
        new RecorderError(
          'ERR_RECORDER_STALLED',
          `${this.recorder} delivered no audio for ${(this.health.options.noDataMs / 1000).toFixed(1)} s; stopping it`,
          { recorder: this.recorder },
        ),
      );
  }
}
