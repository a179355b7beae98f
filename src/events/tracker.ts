/**
 * From per-window predictions to sound events: "water started at 12.25 s … ended at 40.5 s".
 *
 * Window labels flicker; the `EventTracker` turns them into start/end events per class with a moving
 * average, hysteresis, a minimum duration and a cooldown. It is pure: no clock inside. Time comes
 * from the predictions' `startMs`/`endMs`, so a replayed file and a live microphone give the same events
 * for the same audio, and tests need no timers (like speech-commands' `Tracker`).
 *
 * Per class, per window:
 * 1. The class's score is its probability, or 0 when the window is quiet (`rmsDb < silenceDb`): the
 *    feature path normalises each window to its own maximum, so the model's output on a (near-)silent
 *    window is meaningless and must not count as hearing anything.
 * 2. The smoothed score is the mean of the scores of the last `smoothWindows` windows (fewer at the
 *    start of the stream). Smoothing decides when a class is on; it does not date anything.
 * 3. A class turns on when its smoothed score reaches `threshold` and stays on while it is at least
 *    `offThreshold` (hysteresis). Such a run is dated by its own windows' scores: it starts at the
 *    `startMs` of the first window that itself reaches `threshold` (looking back over the smoothing
 *    windows, so smoothing does not delay the start) and ends at the `endMs` of the last window that
 *    itself scores at least `offThreshold` (so the smoothing's tail does not lengthen it).
 * 4. A run becomes an event once it spans `minDurationMs`: the `start` is emitted then, dated back to
 *    the run's start. A run that ends sooner leaves no trace (flicker).
 * 5. An event's `end` is emitted at the first window whose smoothed score is under `offThreshold` (or at
 *    the end of the stream). A new event of the same class cannot start before that `endMs` plus
 *    `cooldownMs` (so events of one class never overlap, even with `cooldownMs` 0).
 * Peak and mean confidence are over the event's windows, from its first to its last scoring window.
 * Background classes (speech-commands' `_background_noise_`) are never tracked.
 *
 * Every event that starts also ends: when the stream ends for any reason (`finish(reason)`) or its
 * class stops being tracked (`reconfigure`), each open event gets its `end`, with a `reason` saying
 * why it ended other than by the sound stopping.
 *
 * With `options.control` (an `EventControl`), the settings can change while the stream runs: a class
 * that is disabled or snoozed scores 0 and its open event ends at once with a `reason`; new thresholds
 * apply from the next window (and, for the classes it knows, the control's settings win over the options').
 */
import { SoundeeError } from '../config.ts';
import type { EventEndReason } from '../protocol/constants.ts';

/**
 * Why an event ended other than by its sound stopping: the stream's audio ended (a file's end, an
 * ingest client's `end` or disconnection), the stream was stopped (Ctrl-C, a command), the server shut
 * down, the stream failed, or the class was disabled (a run-time change of the event settings: a set
 * command, `Engine.setEventOptions`) or snoozed. Declared once, by the wire protocol that carries it.
 */
export { EVENT_END_REASONS, type EventEndReason } from '../protocol/constants.ts';

/**
 * What a tracker reads of run-time switches, once per window (`EventControl` in ./control.ts is one;
 * the tracker knows only this shape, so that the two modules do not import each other).
 */
export interface EventSwitches {
  /** Increases with every change; the tracker re-reads the settings when it moves. */
  readonly version: number;
  /** The settings in force for a class, or undefined to keep the options'. */
  settings(label: string): Readonly<ClassEventSettings> | undefined;
  /** Why a class raises no events now (its open event ends with this reason), or undefined. */
  offReason(label: string): 'disabled' | 'snoozed' | undefined;
}

/** One phase of a sound event. */
export interface SoundEvent {
  streamId: string;
  /** The class. */
  label: string;
  /** 'start' when the event is confirmed (after `minDurationMs`), 'end' when it is over. */
  phase: 'start' | 'end';
  /** Start of the event, ms from the start of the stream (the start of its first window). */
  startMs: number;
  /** End of the event (the end of its last window), on `end` only. */
  endMs?: number;
  /** Highest probability of the class in the event's windows so far. */
  peakConfidence: number;
  /** Mean probability of the class over the event's windows so far. */
  meanConfidence: number;
  /** On `end` only, when the event ended for another reason than its sound stopping. */
  reason?: EventEndReason;
}

/** What the tracker reads of a prediction (a `Prediction` fits). */
export interface ScoredWindow {
  streamId: string;
  startMs: number;
  endMs: number;
  /** Probability per class. */
  scores: Readonly<Record<string, number>>;
  /** RMS level of the window, dBFS (-Infinity for digital silence). */
  rmsDb: number;
}

/** Settings that may differ per class. */
export interface ClassEventSettings {
  /** Smoothed score at which the class turns on, in (0, 1]. Default 0.4. */
  threshold: number;
  /** Smoothed score under which it turns off, in [0, threshold]. Default ¾ of `threshold`. */
  offThreshold: number;
  /** Shortest run that becomes an event, ms, measured from the start of its first scoring window to the end of its last (one window alone spans `windowMillis`, 1000 by default; a run of n windows at 250 ms hops spans 1000 + 250·(n−1)). Default 2000: five windows, which a transition between two sounds (windows partly of each) does not reach. */
  minDurationMs: number;
  /** After an event ends, how long before the same class may start another, ms. Default 2000. */
  cooldownMs: number;
}

/** Options of the event layer. Every field has a default (`DEFAULT_EVENT_OPTIONS`). */
export interface EventOptions extends Partial<ClassEventSettings> {
  /** Windows in the moving average (1 = no smoothing). Default 4 (one 1 s window's worth of 250 ms hops). */
  smoothWindows?: number;
  /** Overrides per class name; fields left out take the general value. */
  perClass?: Readonly<Record<string, Partial<ClassEventSettings>>>;
  /** Classes that never become events (e.g. the model's `backgroundClasses`). Default none. */
  backgroundClasses?: readonly string[];
  /** Windows whose RMS level is under this many dBFS count as hearing nothing. Default -60. */
  silenceDb?: number;
  /** Run-time switches (enabled classes, thresholds, snoozes) shared by the trackers of a device. Default none. */
  control?: EventSwitches;
}

/** The defaults of the event layer, in one place. */
export const DEFAULT_EVENT_OPTIONS = Object.freeze({
  smoothWindows: 4,
  threshold: 0.4,
  /** offThreshold = threshold × this, unless set. */
  offRatio: 0.75,
  minDurationMs: 2000,
  cooldownMs: 2000,
  silenceDb: -60,
});

/** Fully resolved options: one settings object per tracked class. */
export interface ResolvedEventOptions {
  smoothWindows: number;
  silenceDb: number;
  /** Tracked classes (the model's classes minus the background ones), in model order. */
  tracked: readonly string[];
  background: readonly string[];
  settings: Readonly<Record<string, Readonly<ClassEventSettings>>>;
}

function optionError(message: string): never {
  throw new SoundeeError('ERR_EVENT_OPTIONS', message);
}

function checkNumber(name: string, v: number, ok: (v: number) => boolean, what: string): void {
  if (typeof v !== 'number' || Number.isNaN(v) || !ok(v)) optionError(`${name} must be ${what}, got ${JSON.stringify(v)}`);
}

/**
 * Merges `options` over the defaults for a model's `classes` and checks every value.
 * @throws SoundeeError ERR_EVENT_OPTIONS for a value out of range or a class name the model does not have.
 */
export function resolveEventOptions(classes: readonly string[], options: EventOptions = {}): ResolvedEventOptions {
  const d = DEFAULT_EVENT_OPTIONS;
  const smoothWindows = options.smoothWindows ?? d.smoothWindows;
  const silenceDb = options.silenceDb ?? d.silenceDb;
  checkNumber('smoothWindows', smoothWindows, (v) => Number.isInteger(v) && v >= 1 && v <= 1000, 'an integer in [1, 1000]');
  checkNumber('silenceDb', silenceDb, (v) => v <= 0, '≤ 0 dBFS (-Infinity turns the level gate off)');
  const known = new Set(classes);
  const unknown = (names: Iterable<string>, what: string) => {
    const bad = [...names].filter((n) => !known.has(n));
    if (bad.length)
      optionError(`${what} ${bad.map((b) => JSON.stringify(b)).join(', ')} not among the model's classes (${classes.join(', ')})`);
  };
  const background = [...new Set(options.backgroundClasses ?? [])];
  unknown(background, 'background class(es)');
  unknown(Object.keys(options.perClass ?? {}), 'per-class setting(s) for');
  const settings: Record<string, ClassEventSettings> = {};
  const tracked = classes.filter((c) => !background.includes(c));
  for (const c of tracked) {
    const pc = options.perClass?.[c] ?? {};
    const threshold = pc.threshold ?? options.threshold ?? d.threshold;
    // a class's own threshold brings its own default off-threshold, not the general one
    const offThreshold = pc.offThreshold ?? (pc.threshold === undefined ? options.offThreshold : undefined) ?? threshold * d.offRatio;
    const s = {
      threshold,
      offThreshold,
      minDurationMs: pc.minDurationMs ?? options.minDurationMs ?? d.minDurationMs,
      cooldownMs: pc.cooldownMs ?? options.cooldownMs ?? d.cooldownMs,
    };
    checkNumber(`threshold (${c})`, s.threshold, (v) => v > 0 && v <= 1, 'in (0, 1]');
    checkNumber(`offThreshold (${c})`, s.offThreshold, (v) => v >= 0 && v <= s.threshold, `in [0, threshold=${s.threshold}]`);
    checkNumber(`minDurationMs (${c})`, s.minDurationMs, (v) => v >= 0 && Number.isFinite(v), 'a finite number ≥ 0');
    checkNumber(`cooldownMs (${c})`, s.cooldownMs, (v) => v >= 0 && Number.isFinite(v), 'a finite number ≥ 0');
    settings[c] = Object.freeze(s);
  }
  return { smoothWindows, silenceDb, tracked, background, settings };
}

/** Whether a window is too quiet for its prediction to mean anything (level gate). */
export const isQuiet = (w: { rmsDb: number }, silenceDb: number): boolean => !(w.rmsDb >= silenceDb);

interface ClassState {
  readonly name: string;
  /** The settings in force (the control's, when there is one). */
  s: Readonly<ClassEventSettings>;
  /** The last `smoothWindows` windows (ring): score and time span. */
  scores: Float64Array;
  starts: Float64Array;
  ends: Float64Array;
  filled: number;
  pos: number;
  phase: 'idle' | 'candidate' | 'active';
  startMs: number;
  /** End of the run's last window scoring ≥ offThreshold. */
  lastOnEndMs: number;
  /** Statistics up to that window… */
  peak: number;
  sum: number;
  count: number;
  /** …and of the windows since, counted in when another scoring window comes. */
  pendingPeak: number;
  pendingSum: number;
  pendingCount: number;
  /** No new run may start at a window starting before this. */
  quietUntilMs: number;
}
/**
 * Event detection for one stream. Feed predictions in time order with `push`; call `finish` at the end
 * of the stream to close open events.
 */
export class EventTracker {
  private resolved: ResolvedEventOptions;
  private states: ClassState[];
  private lastStartMs = -Infinity;
  private finished = false;
  private control: EventSwitches | undefined;
  /** The control's version the settings were last read at. */
  private controlVersion = -1;

  /**
   * @param streamId copied into every event.
   * @param classes the model's classes (the keys of each prediction's `scores`).
   * @throws SoundeeError ERR_EVENT_OPTIONS (see `resolveEventOptions`).
   */
  constructor(
    readonly streamId: string,
    private classes: readonly string[],
    options: EventOptions = {},
  ) {
    this.resolved = resolveEventOptions(classes, options);
    this.control = options.control;
    this.states = this.resolved.tracked.map((name) => this.newState(name));
  }

  /** The options in force. */
  get options(): ResolvedEventOptions {
    return this.resolved;
  }

  private newState(name: string): ClassState {
    const n = this.resolved.smoothWindows;
    return {
      name,
      s: this.resolved.settings[name]!,
      scores: new Float64Array(n),
      starts: new Float64Array(n),
      ends: new Float64Array(n),
      filled: 0,
      pos: 0,
      phase: 'idle',
      startMs: 0,
      lastOnEndMs: 0,
      peak: 0,
      sum: 0,
      count: 0,
      pendingPeak: 0,
      pendingSum: 0,
      pendingCount: 0,
      quietUntilMs: -Infinity,
    };
  }

  /**
   * Changes the settings while the stream runs; they apply from the next window. A class that keeps
   * being tracked keeps its state (an open event stays open, judged by the new thresholds from now
   * on; a new smoothing length keeps the latest windows); a class that stops being tracked has its
   * open event ended here: with reason `disabled` when it became a background class, `model-changed`
   * when `classes` (a new model's) no longer has it. Classes new in `classes` start idle.
   * @param classes the model's classes from now on (predictions without one of them score it 0). Default: unchanged.
   * @returns those `end`s, in class order.
   * @throws SoundeeError ERR_EVENT_OPTIONS for bad options (nothing changes then).
   */
  reconfigure(options: EventOptions, classes: readonly string[] = this.classes): SoundEvent[] {
    const next = resolveEventOptions(classes, options);
    const ends: SoundEvent[] = [];
    for (const st of this.states)
      if (!next.tracked.includes(st.name) && st.phase === 'active')
        ends.push(this.close(st, classes.includes(st.name) ? 'disabled' : 'model-changed'));
    const old = new Map(this.states.map((st) => [st.name, st]));
    this.classes = classes;
    this.resolved = next;
    this.control = options.control;
    this.controlVersion = -1; // the control's settings are read again at the next window
    this.states = next.tracked.map((name) => {
      const st = old.get(name);
      if (!st) return this.newState(name);
      st.s = next.settings[name]!;
      if (st.scores.length !== next.smoothWindows) resizeRing(st, next.smoothWindows);
      return st;
    });
    return ends;
  }

  /** Classes currently in a confirmed event. */
  get active(): string[] {
    return this.states.filter((s) => s.phase === 'active').map((s) => s.name);
  }

  /**
   * Takes the next window's prediction and returns the events it completes: `end`s first, then
   * `start`s, each in class order.
   * @throws SoundeeError ERR_EVENT_ORDER when windows go back in time or arrive after `finish`.
   */
  push(w: ScoredWindow): SoundEvent[] {
    if (this.finished) throw new SoundeeError('ERR_EVENT_ORDER', `stream ${this.streamId}: a prediction arrived after the stream finished`);
    if (w.startMs < this.lastStartMs)
      throw new SoundeeError(
        'ERR_EVENT_ORDER',
        `stream ${this.streamId}: predictions out of order (window at ${w.startMs} ms after one at ${this.lastStartMs} ms)`,
      );
    this.lastStartMs = w.startMs;
    const quiet = isQuiet(w, this.resolved.silenceDb);
    const control = this.control;
    if (control && control.version !== this.controlVersion) {
      this.controlVersion = control.version;
      for (const st of this.states) st.s = control.settings(st.name) ?? this.resolved.settings[st.name]!;
    }
    const ends: SoundEvent[] = [];
    const starts: SoundEvent[] = [];
    for (const st of this.states) {
      const off = control?.offReason(st.name);
      // a class that is off hears nothing: when it comes back, smoothing starts from silence
      const raw = quiet || off ? 0 : (w.scores[st.name] ?? 0);
      const smoothed = this.remember(st, w, raw);
      if (off) {
        if (st.phase === 'active') ends.push(this.close(st, off));
        st.phase = 'idle';
      } else if (st.phase === 'idle') {
        if (smoothed >= st.s.threshold) this.begin(st, starts);
      } else if (smoothed >= st.s.offThreshold) {
        this.extend(st, raw, w.endMs, starts);
      } else {
        if (st.phase === 'active') ends.push(this.close(st));
        st.phase = 'idle';
      }
    }
    return [...ends, ...starts];
  }

  /**
   * Ends the stream: returns an `end` for every open event, with `reason` (default 'stream-ended').
   * Idempotent; `push` is refused afterwards.
   */
  finish(reason: EventEndReason = 'stream-ended'): SoundEvent[] {
    if (this.finished) return [];
    this.finished = true;
    const ends: SoundEvent[] = [];
    for (const st of this.states) {
      if (st.phase === 'active') ends.push(this.close(st, reason));
      st.phase = 'idle';
    }
    return ends;
  }

  /** Whether `finish` was called. */
  get isFinished(): boolean {
    return this.finished;
  }

  /** Adds the window to the class's ring; returns the smoothed score. */
  private remember(st: ClassState, w: ScoredWindow, raw: number): number {
    st.scores[st.pos] = raw;
    st.starts[st.pos] = w.startMs;
    st.ends[st.pos] = w.endMs;
    st.pos = (st.pos + 1) % st.scores.length;
    if (st.filled < st.scores.length) st.filled++;
    let sum = 0;
    for (let i = 0; i < st.filled; i++) sum += st.scores[i]!;
    return sum / st.filled;
  }

  /** Starts a run at the earliest window in the ring that reaches the threshold (after the cooldown), replaying the ring from there. */
  private begin(st: ClassState, starts: SoundEvent[]): void {
    const n = st.scores.length;
    const oldest = (st.pos - st.filled + n) % n;
    let first = -1;
    for (let k = 0; k < st.filled; k++) {
      const i = (oldest + k) % n;
      if (st.scores[i]! >= st.s.threshold && st.starts[i]! >= st.quietUntilMs) {
        first = k;
        break;
      }
    }
    if (first < 0) return; // nothing loud enough since the cooldown ended
    st.phase = 'candidate';
    st.startMs = st.starts[(oldest + first) % n]!;
    st.peak = st.sum = st.count = 0;
    st.pendingPeak = st.pendingSum = st.pendingCount = 0;
    for (let k = first; k < st.filled; k++) {
      const i = (oldest + k) % n;
      this.extend(st, st.scores[i]!, st.ends[i]!, starts);
    }
  }

  /** Adds a window to a run; confirms the run once its scoring windows span minDurationMs. */
  private extend(st: ClassState, raw: number, endMs: number, starts: SoundEvent[]): void {
    st.pendingPeak = Math.max(st.pendingPeak, raw);
    st.pendingSum += raw;
    st.pendingCount++;
    if (raw < st.s.offThreshold) return;
    st.lastOnEndMs = endMs;
    st.peak = Math.max(st.peak, st.pendingPeak);
    st.sum += st.pendingSum;
    st.count += st.pendingCount;
    st.pendingPeak = st.pendingSum = st.pendingCount = 0;
    if (st.phase === 'candidate' && st.lastOnEndMs - st.startMs >= st.s.minDurationMs) {
      st.phase = 'active';
      starts.push(this.event(st, 'start'));
    }
  }

  private close(st: ClassState, reason?: EventEndReason): SoundEvent {
    st.quietUntilMs = st.lastOnEndMs + st.s.cooldownMs;
    st.phase = 'idle';
    const e = this.event(st, 'end');
    if (reason) e.reason = reason;
    return e;
  }

  private event(st: ClassState, phase: 'start' | 'end'): SoundEvent {
    const e: SoundEvent = {
      streamId: this.streamId,
      label: st.name,
      phase,
      startMs: st.startMs,
      peakConfidence: st.peak,
      meanConfidence: st.count ? st.sum / st.count : 0,
    };
    if (phase === 'end') e.endMs = st.lastOnEndMs;
    return e;
  }
}

/** Gives a class's ring of recent windows a new length, keeping the latest ones in order. */
function resizeRing(st: ClassState, n: number): void {
  const old = st.scores.length;
  const keep = Math.min(st.filled, n);
  const scores = new Float64Array(n);
  const starts = new Float64Array(n);
  const ends = new Float64Array(n);
  for (let k = 0; k < keep; k++) {
    const i = (st.pos - keep + k + old) % old;
    scores[k] = st.scores[i]!;
    starts[k] = st.starts[i]!;
    ends[k] = st.ends[i]!;
  }
  Object.assign(st, { scores, starts, ends, filled: keep, pos: keep % n });
}
