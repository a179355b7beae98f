/**
 * Pure logic behind a live audio source: input health (dead stream, digital silence, clipping), the
 * restart back-off, and the stream clock that keeps stream time in step with wall time across restarts.
 * No timers or clocks inside: callers pass the time (`nowMs`), so tests run on made-up times.
 */
import { SoundeeError } from '../config.ts';

/** Health conditions of a live input. */
export type HealthCondition = 'no-data' | 'silence' | 'clipping';

/** A condition starting (`active: true`) or clearing. */
export interface HealthChange {
  condition: HealthCondition;
  active: boolean;
  /** One line for people. */
  message: string;
}

/** Health thresholds. Every field has a default (`DEFAULT_HEALTH_OPTIONS`). */
export interface HealthOptions {
  /** No data for this long (wall time) means a dead stream; the recorder is restarted. Default 5000 ms. */
  noDataMs: number;
  /** A sample whose magnitude is at most this is silent. Default 4/32768 (±4 LSB at 16 bits ≈ -78 dBFS: sox dithers an idle input to ±1–2 LSB). */
  silencePeak: number;
  /** Digital silence lasting this long (audio time) is reported. Default 10 000 ms. */
  silenceMs: number;
  /** A sample whose magnitude reaches this is clipped. Default 32767/32768 (the 16-bit limits). */
  clipLevel: number;
  /** A block (1 s of audio) with at least this fraction of clipped samples is clipping. Default 0.001 (16 samples at 16 kHz). */
  clipFraction: number;
  /** Clean blocks in a row that clear a clipping report. Default 3. */
  clipClearBlocks: number;
}

export const DEFAULT_HEALTH_OPTIONS: Readonly<HealthOptions> = Object.freeze({
  noDataMs: 5000,
  silencePeak: 4 / 32768,
  silenceMs: 10_000,
  clipLevel: 32767 / 32768,
  clipFraction: 0.001,
  clipClearBlocks: 3,
});

function optionError(message: string): never {
  throw new SoundeeError('ERR_HEALTH_OPTIONS', message);
}

const dbfs = (amplitude: number) => (20 * Math.log10(amplitude)).toFixed(0);

/**
 * Watches a live input. Feed every decoded chunk to `push`, call `check` periodically (it reports a
 * dead stream) and `startRun` whenever a recorder (re)starts.
 */
export class HealthMonitor {
  readonly options: Readonly<HealthOptions>;
  private readonly blockLen: number;
  private lastDataMs = 0;
  private noData = false;
  private silentSamples = 0;
  private silence = false;
  private blockSamples = 0;
  private blockClipped = 0;
  private clipping = false;
  private cleanBlocks = 0;

  /**
   * @param sampleRateHz rate of the samples given to `push`.
   * @throws SoundeeError ERR_HEALTH_OPTIONS for a value out of range.
   */
  constructor(
    readonly sampleRateHz: number,
    options: Partial<HealthOptions> = {},
  ) {
    const o = { ...DEFAULT_HEALTH_OPTIONS, ...options };
    if (!(o.noDataMs > 0)) optionError(`noDataMs must be > 0, got ${o.noDataMs}`);
    if (!(o.silencePeak >= 0 && o.silencePeak < 1)) optionError(`silencePeak must be in [0, 1), got ${o.silencePeak}`);
    if (!(o.silenceMs > 0)) optionError(`silenceMs must be > 0, got ${o.silenceMs}`);
    if (!(o.clipLevel > 0 && o.clipLevel <= 1)) optionError(`clipLevel must be in (0, 1], got ${o.clipLevel}`);
    if (!(o.clipFraction > 0 && o.clipFraction <= 1)) optionError(`clipFraction must be in (0, 1], got ${o.clipFraction}`);
    if (!(Number.isInteger(o.clipClearBlocks) && o.clipClearBlocks >= 1))
      optionError(`clipClearBlocks must be an integer ≥ 1, got ${o.clipClearBlocks}`);
    this.options = Object.freeze(o);
    this.blockLen = sampleRateHz;
  }

  /** A recorder (re)started at `nowMs`: the dead-stream clock starts again. Conditions already reported stay. */
  startRun(nowMs: number): void {
    this.lastDataMs = nowMs;
  }

  /** True when the current run has delivered nothing for `noDataMs` (time to restart the recorder). */
  stalled(nowMs: number): boolean {
    return nowMs - this.lastDataMs >= this.options.noDataMs;
  }

  /** Reports a dead stream once, when no data has come for `noDataMs`. */
  check(nowMs: number): HealthChange[] {
    if (this.noData || !this.stalled(nowMs)) return [];
    this.noData = true;
    return [
      { condition: 'no-data', active: true, message: `no audio from the recorder for ${((nowMs - this.lastDataMs) / 1000).toFixed(1)} s` },
    ];
  }

  /** Takes the samples that arrived at `nowMs`; returns the conditions that started or cleared. */
  push(samples: Float32Array, nowMs: number): HealthChange[] {
    const out: HealthChange[] = [];
    if (samples.length === 0) return out;
    this.lastDataMs = nowMs;
    if (this.noData) {
      this.noData = false;
      out.push({ condition: 'no-data', active: false, message: 'audio is flowing again' });
    }
    const { silencePeak, clipLevel } = this.options;
    let peak = 0;
    for (let i = 0; i < samples.length; i++) {
      const a = Math.abs(samples[i]!);
      if (a > peak) peak = a;
      if (a >= clipLevel) this.blockClipped++;
      if (++this.blockSamples === this.blockLen) this.endBlock(out);
    }
    if (peak <= silencePeak) {
      this.silentSamples += samples.length;
      if (!this.silence && this.silentSamples >= (this.options.silenceMs * this.sampleRateHz) / 1000) {
        this.silence = true;
        out.push({
          condition: 'silence',
          active: true,
          message: `digital silence for ${(this.silentSamples / this.sampleRateHz).toFixed(1)} s (peak ≤ ${dbfs(silencePeak)} dBFS): is the input muted or unplugged?`,
        });
      }
    } else {
      if (this.silence)
        out.push({
          condition: 'silence',
          active: false,
          message: `sound again after ${(this.silentSamples / this.sampleRateHz).toFixed(1)} s of digital silence`,
        });
      this.silence = false;
      this.silentSamples = 0;
    }
    return out;
  }

  private endBlock(out: HealthChange[]): void {
    const fraction = this.blockClipped / this.blockSamples;
    this.blockSamples = 0;
    this.blockClipped = 0;
    if (fraction >= this.options.clipFraction) {
      this.cleanBlocks = 0;
      if (!this.clipping) {
        this.clipping = true;
        out.push({
          condition: 'clipping',
          active: true,
          message: `clipping: ${(100 * fraction).toFixed(2)} % of the samples of the last second at full scale; lower the input gain`,
        });
      }
    } else if (this.clipping && ++this.cleanBlocks >= this.options.clipClearBlocks) {
      this.clipping = false;
      out.push({ condition: 'clipping', active: false, message: `no clipping for ${this.cleanBlocks} s` });
    }
  }

  /** Conditions active now. */
  get active(): HealthCondition[] {
    return (['no-data', 'silence', 'clipping'] as const).filter((c) =>
      c === 'no-data' ? this.noData : c === 'silence' ? this.silence : this.clipping,
    );
  }
}

/** Restart back-off. Every field has a default (`DEFAULT_RESTART_OPTIONS`). */
export interface RestartOptions {
  /** Delay before the first restart. Default 500 ms. */
  initialDelayMs: number;
  /** Growth per consecutive failure. Default 2. */
  factor: number;
  /** Cap on the delay. Default 30 000 ms. */
  maxDelayMs: number;
  /** A run that delivered audio this long counts as a success: the next failure starts from the initial delay again. Default 30 000 ms. */
  resetAfterMs: number;
}

export const DEFAULT_RESTART_OPTIONS: Readonly<RestartOptions> = Object.freeze({
  initialDelayMs: 500,
  factor: 2,
  maxDelayMs: 30_000,
  resetAfterMs: 30_000,
});

/** Capped exponential back-off: delay of the `attempt`-th consecutive restart (1-based). */
export function restartDelayMs(attempt: number, o: Readonly<RestartOptions> = DEFAULT_RESTART_OPTIONS): number {
  return Math.min(o.maxDelayMs, o.initialDelayMs * o.factor ** Math.max(0, attempt - 1));
}

/** Counts consecutive failures of a recorder and says how long to wait before the next start. */
export class Backoff {
  readonly options: Readonly<RestartOptions>;
  private failures = 0;

  /** @throws SoundeeError ERR_HEALTH_OPTIONS for a value out of range. */
  constructor(options: Partial<RestartOptions> = {}) {
    const o = { ...DEFAULT_RESTART_OPTIONS, ...options };
    if (!(o.initialDelayMs >= 0)) optionError(`initialDelayMs must be ≥ 0, got ${o.initialDelayMs}`);
    if (!(o.factor >= 1)) optionError(`factor must be ≥ 1, got ${o.factor}`);
    if (!(o.maxDelayMs >= o.initialDelayMs)) optionError(`maxDelayMs must be ≥ initialDelayMs, got ${o.maxDelayMs}`);
    if (!(o.resetAfterMs >= 0)) optionError(`resetAfterMs must be ≥ 0, got ${o.resetAfterMs}`);
    this.options = Object.freeze(o);
  }

  /**
   * A run ended after delivering `audioMs` of wall time with data (0 if it never delivered any).
   * @returns the restart attempt number (1 after a run that counted as a success) and the delay before it.
   */
  next(audioMs: number): { attempt: number; delayMs: number } {
    if (audioMs >= this.options.resetAfterMs) this.failures = 0;
    this.failures++;
    return { attempt: this.failures, delayMs: restartDelayMs(this.failures, this.options) };
  }
}

/**
 * Keeps stream time (samples delivered) in step with wall time across recorder restarts: when a new run's
 * first chunk arrives, the time the input was down is filled with silence (up to `maxFillMs`), so that
 * the stream's `startMs` + the time listening began is still the wall-clock time of a window.
 */
export class StreamClock {
  private t0Ms: number | undefined;
  private delivered = 0;

  /**
   * @param maxFillMs longest gap filled (a longer outage shifts stream time by the excess). Default 60 000 ms.
   * @param minGapMs gaps shorter than this (jitter) are not filled. Default 100 ms.
   */
  constructor(
    readonly sampleRateHz: number,
    readonly maxFillMs = 60_000,
    readonly minGapMs = 100,
  ) {}

  /** Wall-clock time of stream time 0 (ms, the caller's clock), once the first chunk has arrived. */
  get originMs(): number | undefined {
    return this.t0Ms;
  }

  /** Stream time delivered so far, ms. */
  get streamMs(): number {
    return (this.delivered / this.sampleRateHz) * 1000;
  }

  /**
   * A chunk of `samples` arrived at `nowMs`; `firstOfRun` when it is a (re)started recorder's first.
   * @returns the number of silent samples to deliver before it.
   */
  arrive(samples: number, nowMs: number, firstOfRun: boolean): number {
    const chunkMs = (samples / this.sampleRateHz) * 1000;
    let fill = 0;
    if (this.t0Ms === undefined) this.t0Ms = nowMs - chunkMs;
    else if (firstOfRun) {
      const gapMs = nowMs - chunkMs - this.t0Ms - this.streamMs;
      if (gapMs >= this.minGapMs) fill = Math.round((Math.min(gapMs, this.maxFillMs) * this.sampleRateHz) / 1000);
    }
    this.delivered += fill + samples;
    return fill;
  }
}
