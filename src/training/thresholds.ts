/**
 * Per-class event thresholds chosen on held-out packages: for each class, the lowest threshold at which
 * the event layer raises at most a given number of false alarms per hour on held-out non-target audio.
 */
import type { EventOptions, ScoredWindow } from '../events/tracker.ts';
import { countEventStarts } from './false-alarms.ts';

/** Settings of the threshold search. */
export interface ThresholdSearch {
  /** Candidate thresholds, ascending. Default 0.40, 0.45, …, 0.95. */
  grid?: readonly number[];
  /** False alarms per hour allowed to each class on the non-target streams. */
  perClassPerHour: number;
}

/** The default grid: from the "cannot tell" threshold up. */
export const DEFAULT_THRESHOLD_GRID: readonly number[] = Array.from({ length: 12 }, (_, i) => Math.round((0.4 + 0.05 * i) * 100) / 100);

/**
 * For each tracked class, the lowest grid threshold whose event starts on `streams` (non-target audio)
 * stay within `perClassPerHour`; the top of the grid when none does. Every other event setting is
 * `base`'s, so the thresholds fit the smoothing, minimum duration and cooldown they will run with.
 */
export function chooseEventThresholds(
  streams: ReadonlyMap<string, readonly ScoredWindow[]>,
  classes: readonly string[],
  base: EventOptions,
  { grid = DEFAULT_THRESHOLD_GRID, perClassPerHour }: ThresholdSearch,
): Record<string, number> {
  const background = base.backgroundClasses ?? [];
  const out: Record<string, number> = {};
  for (const c of classes.filter((x) => !background.includes(x))) {
    let chosen = grid.at(-1)!;
    for (const t of grid) {
      const r = countEventStarts(streams, classes, { ...base, perClass: { ...base.perClass, [c]: { threshold: t } } });
      if (r.hours > 0 && r.byClass[c]! / r.hours <= perClassPerHour) {
        chosen = t;
        break;
      }
    }
    out[c] = chosen;
  }
  return out;
}
