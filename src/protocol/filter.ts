/** Subscription filters (which messages a subscriber gets), and a type guard for the status kinds. */
import type { SubscribableType } from './constants.ts';
import type { DropsStatus, LearnStatus, ModelStatus, RecorderStatus, ResumeStatus, StatusMessage, StreamStatus } from './messages.ts';

/** A subscription filter: absent fields match everything. */
export interface Filter {
  streams?: readonly string[];
  classes?: readonly string[];
  types: readonly SubscribableType[];
}

/** Whether a message passes a filter. hello, error and pong always pass. */
export function matchesFilter(f: Filter, m: { type: string; streamId?: unknown; label?: unknown }): boolean {
  if (m.type === 'hello' || m.type === 'error' || m.type === 'pong') return true;
  if (!f.types.includes(m.type as SubscribableType)) return false;
  if (f.streams && typeof m.streamId === 'string' && !f.streams.includes(m.streamId)) return false;
  if (f.classes && (m.type === 'prediction' || m.type === 'event') && !f.classes.includes(m.label as string)) return false;
  return true;
}

/** The statuses of the kinds the protocol defines, by kind. */
export interface KnownStatusMap {
  drops: DropsStatus;
  resume: ResumeStatus;
  stream: StreamStatus;
  recorder: RecorderStatus;
  learn: LearnStatus;
  model: ModelStatus;
}

/**
 * Whether a status is of a defined kind, narrowing its type (`s.kind === 'resume'` alone cannot: a
 * status of an application's own kind may carry any fields).
 */
export function isStatus<K extends keyof KnownStatusMap>(s: StatusMessage, kind: K): s is StatusMessage & KnownStatusMap[K] {
  return s.kind === kind;
}
