/** Subscription filters: which messages a subscriber gets. */
import type { SubscribableType } from './constants.ts';

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
