/**
 * The event layer's command-line options, in one place for every command that turns predictions into
 * events (`listen`, `replay`, `serve`): --smooth, --event-threshold, --min-duration, --cooldown,
 * --background and --silence-db. Unset options keep the event layer's defaults (`DEFAULT_EVENT_OPTIONS`).
 */
import type { Command } from 'commander';
import { SoundeeError } from '../config.ts';
import { type ClassEventSettings, DEFAULT_EVENT_OPTIONS, type EventOptions, resolveEventOptions } from '../events/tracker.ts';
import { fail, parseNumber } from './common.ts';

/** `--event-threshold` values collected: a general threshold and per-class ones. */
export interface EventThresholds {
  threshold?: number;
  perClass: Record<string, number>;
}

/** The parsed event options (commander's names for them). */
export interface EventCliOptions {
  smooth?: number;
  eventThreshold?: EventThresholds;
  minDuration?: number;
  cooldown?: number;
  background?: string[];
  silenceDb?: number;
}

/**
 * Parses one `--event-threshold` value (`0.5` or `water=0.6`) into the running collection (the option
 * repeats).
 */
export function parseEventThreshold(value: string, previous: EventThresholds | undefined): EventThresholds {
  const acc: EventThresholds = previous ?? { perClass: {} };
  const m = /^(?:([^=]+)=)?(.+)$/.exec(value.trim());
  const p = Number(m?.[2]);
  if (!m || !(p > 0 && p <= 1)) fail(`--event-threshold takes P or CLASS=P with P in (0, 1], got "${value}"`, 2);
  if (m[1] === undefined) acc.threshold = p;
  else acc.perClass[m[1].trim()] = p;
  return acc;
}

/** Adds --smooth, --event-threshold, --min-duration, --cooldown, --background and --silence-db. */
export function eventOptions(cmd: Command): Command {
  const d = DEFAULT_EVENT_OPTIONS;
  return cmd
    .option(
      '--smooth <n>',
      `events: moving average over this many windows (default ${d.smoothWindows})`,
      parseNumber('--smooth', { min: 1, max: 1000, integer: true }),
    )
    .option(
      '--event-threshold <p|class=p...>',
      `events: smoothed probability that starts an event, for all classes or one (default: the model's per-class thresholds, else ${d.threshold}; ends under ¾ of it)`,
      parseEventThreshold,
    )
    .option(
      '--min-duration <ms>',
      `events: shortest sound reported (default ${d.minDurationMs}; one window is 1000)`,
      parseNumber('--min-duration', { min: 0 }),
    )
    .option(
      '--cooldown <ms>',
      `events: quiet time after an event before the same class may start another (default ${d.cooldownMs})`,
      parseNumber('--cooldown', { min: 0 }),
    )
    .option('--background <class...>', "classes that never become events (added to the model's own background classes)")
    .option(
      '--silence-db <dBFS>',
      `windows quieter than this are "nothing heard": labelled unknown, never an event (default ${d.silenceDb})`,
      parseNumber('--silence-db', { max: 0 }),
    );
}

/** What the event options take from a model: background classes, per-class event thresholds, learned classes' settings. */
export interface ModelEventDefaults {
  backgroundClasses: readonly string[];
  eventThresholds?: Readonly<Record<string, number>>;
  classEvents?: Readonly<Record<string, Partial<ClassEventSettings>>>;
}

/**
 * The event options the command line asks for (unset ones keep the model's, then the event layer's
 * defaults).
 * @param model the model's background classes (`--background` adds to them), per-class event
 *   thresholds (chosen on held-out packages) and its learned classes' event settings (`soundee learn`):
 *   a general `--event-threshold P` replaces every threshold, `--min-duration MS` the learned classes'
 *   minimum durations, `--event-threshold CLASS=P` that class's threshold.
 */
export function eventOptionsOf(o: EventCliOptions, model: ModelEventDefaults): EventOptions {
  const perClass: Record<string, Partial<ClassEventSettings>> = {};
  if (o.eventThreshold?.threshold === undefined)
    for (const [k, v] of Object.entries(model.eventThresholds ?? {})) perClass[k] = { threshold: v };
  for (const [k, v] of Object.entries(model.classEvents ?? {}))
    perClass[k] = {
      ...perClass[k],
      ...(o.eventThreshold?.threshold === undefined && v.threshold !== undefined ? { threshold: v.threshold } : {}),
      ...(o.minDuration === undefined && v.minDurationMs !== undefined ? { minDurationMs: v.minDurationMs } : {}),
    };
  for (const [k, v] of Object.entries(o.eventThreshold?.perClass ?? {})) perClass[k] = { ...perClass[k], threshold: v };
  return {
    backgroundClasses: [...new Set([...model.backgroundClasses, ...(o.background ?? [])])],
    perClass,
    ...(o.silenceDb === undefined ? {} : { silenceDb: o.silenceDb }),
    ...(o.smooth === undefined ? {} : { smoothWindows: o.smooth }),
    ...(o.eventThreshold?.threshold === undefined ? {} : { threshold: o.eventThreshold.threshold }),
    ...(o.minDuration === undefined ? {} : { minDurationMs: o.minDuration }),
    ...(o.cooldown === undefined ? {} : { cooldownMs: o.cooldown }),
  };
}

/** The event settings of a command: what the event operators take, and the level gate's threshold. */
export interface EventSettings {
  options: EventOptions;
  /** Windows under this many dBFS are "nothing heard" (the level gate). */
  silenceDb: number;
}

/**
 * The command line's event options for a model, checked against its classes.
 * @param model the model's classes and background classes (a `Classifier` fits).
 * @throws CliError (exit 2) for a class name the model does not have or a value out of range.
 */
export function eventSettingsFor(o: EventCliOptions, model: { classes: readonly string[] } & ModelEventDefaults): EventSettings {
  const options = eventOptionsOf(o, model);
  try {
    return { options, silenceDb: resolveEventOptions(model.classes, options).silenceDb };
  } catch (e) {
    if (e instanceof SoundeeError) fail(e.message, 2);
    throw e;
  }
}
