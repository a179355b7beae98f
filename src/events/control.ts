/**
 * Run-time control of the event layer: which classes may raise events, their thresholds, and
 * snoozes, changed while streams run (from MQTT `set` commands, or any other front end).
 *
 * One `EventControl` is shared by every `EventTracker` of a device (pass it as `EventOptions.control`);
 * the trackers consult it once per window. A change is checked as a whole and then applied as a whole:
 * a bad change throws and changes nothing. Disabling or snoozing a class that is in an event ends the
 * event at that stream's next window, with `reason` saying why, so every start still gets its end.
 *
 * Snoozes are wall-clock (a person says "quiet for 30 minutes"), read from the injected clock; the
 * trackers themselves stay clock-free.
 */
import { SoundeeError } from '../config.ts';
import type { ClassEventSettings, ResolvedEventOptions } from './tracker.ts';

/** Why a class raises no events right now. */
export type OffReason = 'disabled' | 'snoozed';

/** The limits of what a change may ask for. */
export const EVENT_CONTROL_LIMITS = Object.freeze({
  /** Longest snooze, minutes (a week). */
  maxSnoozeMinutes: 7 * 24 * 60,
});

/** A change of the run-time settings. Every field is optional; class names are the model's tracked classes. */
export interface EventControlChange {
  /** Classes that may raise events again. */
  enable?: readonly string[];
  /** Classes that raise no events until enabled (an open event ends, reason `disabled`). */
  disable?: readonly string[];
  /** New event threshold per class, in (0, 1]; `null` restores the start-up value. The off-threshold keeps its start-up ratio. */
  thresholds?: Readonly<Record<string, number | null>>;
  /** Snooze per class, minutes from now in [0, maxSnoozeMinutes]; 0 ends a snooze (an open event ends, reason `snoozed`). */
  snoozeMinutes?: Readonly<Record<string, number>>;
}

/** The settings in force for one class. */
export interface ClassControlState {
  enabled: boolean;
  threshold: number;
  offThreshold: number;
  /** Wall-clock ms until which the class is snoozed, or null when it is not. */
  snoozedUntilMs: number | null;
}

interface ClassEntry {
  enabled: boolean;
  settings: Readonly<ClassEventSettings>;
  snoozedUntilMs: number;
}

function controlError(message: string): never {
  throw new SoundeeError('ERR_EVENT_CONTROL', message);
}

/** Run-time switches of the event layer, shared by the trackers of every stream of a device. */
export class EventControl {
  private readonly classes = new Map<string, ClassEntry>();
  private readonly base: Readonly<Record<string, Readonly<ClassEventSettings>>>;
  private readonly listeners = new Set<() => void>();
  private changes = 0;

  /**
   * @param options the resolved event options the trackers start from (`resolveEventOptions`): the
   *   tracked classes and their start-up settings.
   * @param now the wall clock, ms (snoozes); injectable for tests.
   */
  constructor(
    options: Pick<ResolvedEventOptions, 'tracked' | 'settings'>,
    private readonly now: () => number = Date.now,
  ) {
    this.base = options.settings;
    for (const name of options.tracked) this.classes.set(name, { enabled: true, settings: options.settings[name]!, snoozedUntilMs: 0 });
  }

  /** Increases with every applied change; trackers re-read the settings when it moves. */
  get version(): number {
    return this.changes;
  }

  /** The tracked classes, in model order. */
  get tracked(): string[] {
    return [...this.classes.keys()];
  }

  /** Why `label` raises no events now, or undefined when it may (and for classes this control does not know). */
  offReason(label: string): OffReason | undefined {
    const c = this.classes.get(label);
    if (!c) return undefined;
    if (!c.enabled) return 'disabled';
    if (c.snoozedUntilMs > 0) {
      if (this.now() < c.snoozedUntilMs) return 'snoozed';
      c.snoozedUntilMs = 0; // expired: no longer shown as snoozed
    }
    return undefined;
  }

  /** The settings in force for `label`, or undefined for a class this control does not know. */
  settings(label: string): Readonly<ClassEventSettings> | undefined {
    return this.classes.get(label)?.settings;
  }

  /** The settings in force, per tracked class (expired snoozes read as null). */
  state(): Record<string, ClassControlState> {
    const out: Record<string, ClassControlState> = {};
    const t = this.now();
    for (const [name, c] of this.classes)
      out[name] = {
        enabled: c.enabled,
        threshold: c.settings.threshold,
        offThreshold: c.settings.offThreshold,
        snoozedUntilMs: c.snoozedUntilMs > t ? c.snoozedUntilMs : null,
      };
    return out;
  }

  /**
   * Checks `change` as a whole, then applies it as a whole and tells the listeners.
   * @throws SoundeeError ERR_EVENT_CONTROL for an unknown or background class, a value out of range,
   *   or a class both enabled and disabled; nothing is changed then.
   */
  apply(change: EventControlChange): void {
    const known = (name: unknown, what: string): string => {
      if (typeof name !== 'string' || !this.classes.has(name))
        controlError(`${what}: ${JSON.stringify(name)} is not one of the classes that raise events (${this.tracked.join(', ')})`);
      return name;
    };
    const enable = (change.enable ?? []).map((n) => known(n, 'enable'));
    const disable = (change.disable ?? []).map((n) => known(n, 'disable'));
    const both = enable.filter((n) => disable.includes(n));
    if (both.length) controlError(`${both.map((b) => JSON.stringify(b)).join(', ')} cannot be both enabled and disabled`);
    const thresholds = Object.entries(change.thresholds ?? {}).map(([n, p]) => {
      known(n, 'thresholds');
      if (p !== null && !(typeof p === 'number' && p > 0 && p <= 1))
        controlError(`thresholds: ${n} must be a number in (0, 1] (or null for the start-up value), got ${JSON.stringify(p)}`);
      return [n, p] as const;
    });
    const max = EVENT_CONTROL_LIMITS.maxSnoozeMinutes;
    const snoozes = Object.entries(change.snoozeMinutes ?? {}).map(([n, m]) => {
      known(n, 'snooze');
      if (!(typeof m === 'number' && m >= 0 && m <= max))
        controlError(`snooze: ${n} must be minutes in [0, ${max}] (0 ends a snooze), got ${JSON.stringify(m)}`);
      return [n, m] as const;
    });

    const t = this.now();
    for (const n of enable) this.classes.get(n)!.enabled = true;
    for (const n of disable) this.classes.get(n)!.enabled = false;
    for (const [n, p] of thresholds) {
      const base = this.base[n]!;
      const c = this.classes.get(n)!;
      // the off-threshold keeps the ratio it started with (hysteresis as configured)
      c.settings = p === null ? base : Object.freeze({ ...base, threshold: p, offThreshold: p * (base.offThreshold / base.threshold) });
    }
    for (const [n, m] of snoozes) this.classes.get(n)!.snoozedUntilMs = m === 0 ? 0 : t + m * 60_000;
    this.changes++;
    for (const l of this.listeners) l();
  }

  /** Calls `listener` after every applied change; returns the function that removes it. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
}
