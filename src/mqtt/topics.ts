/**
 * MQTT topic names of a Soundee device, and the ids they are built from (device id, class slugs).
 *
 * One device publishes under `<prefix>/<device>/…`; its ids also become Home Assistant object ids and
 * unique ids, so they are restricted to what both accept: `[a-z0-9_-]` (lower case keeps ids stable
 * whatever the host name's case).
 */
import { hostname } from 'node:os';
import { SoundeeError } from '../config.ts';

/** Longest device id or class slug. */
export const MAX_ID_LENGTH = 64;

const ID_RE = /^[a-z0-9_-]{1,64}$/;

function optionError(message: string): never {
  throw new SoundeeError('ERR_MQTT_OPTIONS', message);
}

/**
 * Turns any name (a host name, a class label) into an id: lower case, runs of characters outside
 * `[a-z0-9_-]` become one `_`, no `_` at either end, at most 64 characters; `fallback` when nothing is left.
 */
export function sanitizeId(name: string, fallback = 'soundee'): string {
  const id = name
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, MAX_ID_LENGTH)
    .replace(/_+$/, '');
  return id || fallback;
}

/** The default device id: this machine's host name, sanitised (`My-Pi.local` → `my-pi_local`). */
export function defaultDeviceId(): string {
  return sanitizeId(hostname());
}

/**
 * Checks a device id given by the user (never silently changed: it names topics and Home Assistant entities).
 * @throws SoundeeError ERR_MQTT_OPTIONS naming the allowed characters.
 */
export function checkDeviceId(id: string): string {
  if (!ID_RE.test(id))
    optionError(
      `device id ${JSON.stringify(id)} must be 1–${MAX_ID_LENGTH} characters of a-z, 0-9, _ and - (it names MQTT topics and Home Assistant entities); e.g. ${JSON.stringify(sanitizeId(id))}`,
    );
  return id;
}

/**
 * Checks a topic prefix: one or more non-empty levels separated by `/`, without the wildcards `+`
 * and `#`, not starting with `$` (reserved by brokers).
 * @throws SoundeeError ERR_MQTT_OPTIONS.
 */
export function checkPrefix(prefix: string): string {
  const levels = prefix.split('/');
  if (
    prefix.startsWith('$') ||
    levels.some((l) => l === '' || l.includes('+') || l.includes('#') || l.includes(String.fromCharCode(0))) ||
    Buffer.byteLength(prefix) > 1024
  )
    optionError(
      `topic prefix ${JSON.stringify(prefix)} must be non-empty levels separated by "/" (no leading or trailing "/", no "+", "#", not starting with "$")`,
    );
  return prefix;
}

/** The topics of one device. */
export interface DeviceTopics {
  /** `online`/`offline`, retained; `offline` is the last will. */
  availability: string;
  /** Every event, as the WebSocket `event` message, QoS 1. */
  events: string;
  /** The input level, at most once a second. */
  level: string;
  /** JSON commands in. */
  set: string;
  /** The settings in force (and the answer to the last command), retained. */
  config: string;
  /** `ON`/`OFF` per class, retained. */
  state(label: string): string;
  /** The class's slug in topics and ids. */
  slug(label: string): string;
}

/**
 * The topics of `device` under `prefix`, with a slug per class.
 * @throws SoundeeError ERR_MQTT_OPTIONS when two classes have the same slug (e.g. `Dog bark` and `dog_bark`).
 */
export function deviceTopics(prefix: string, device: string, classes: readonly string[]): DeviceTopics {
  const base = `${checkPrefix(prefix)}/${checkDeviceId(device)}`;
  const slugs = new Map<string, string>();
  const owners = new Map<string, string>();
  for (const c of classes) {
    const s = sanitizeId(c, 'class');
    const other = owners.get(s);
    if (other !== undefined && other !== c)
      optionError(`classes ${JSON.stringify(other)} and ${JSON.stringify(c)} would share the MQTT topic ${base}/${s}/state`);
    owners.set(s, c);
    slugs.set(c, s);
  }
  const slug = (label: string) => slugs.get(label) ?? sanitizeId(label, 'class');
  return {
    availability: `${base}/availability`,
    events: `${base}/events`,
    level: `${base}/level`,
    set: `${base}/set`,
    config: `${base}/config`,
    state: (label) => `${base}/${slug(label)}/state`,
    slug,
  };
}
