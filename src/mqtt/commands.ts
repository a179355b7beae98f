/**
 * `set` commands in, `config` answers out: the pure part of run-time control over MQTT.
 *
 * A command is one JSON object (schema: `setCommandSchema`). It is parsed and checked here, then
 * applied as a whole by the `EventControl`; the answer is the `config` payload: the settings in force
 * and how the last command went (a refused command changes nothing and says why).
 */
import { SoundeeError } from '../config.ts';
import type { EventControl, EventControlChange } from '../events/control.ts';
import { mqttPayloadError, setCommandSchema } from './schemas.ts';

/** Largest command accepted, bytes. */
export const MAX_COMMAND_BYTES = 16 * 1024;

/** A parsed command: the change, and the id to echo. */
export interface SetCommand {
  id?: string | number;
  change: EventControlChange;
}

/** The answer to the last command, in `config.lastCommand`. */
export interface CommandResult {
  ok: boolean;
  id?: string | number;
  at: string;
  error?: { code: 'ERR_MQTT_COMMAND' | 'ERR_EVENT_CONTROL'; message: string };
}

/** The `config` payload (schema: `configSchema`). */
export interface ConfigPayload {
  deviceId: string;
  classes: Record<string, { enabled: boolean; threshold: number; offThreshold: number; snoozedUntil: string | null }>;
  updatedAt: string;
  lastCommand?: CommandResult;
}

function commandError(message: string): never {
  throw new SoundeeError('ERR_MQTT_COMMAND', message);
}

/**
 * Parses one `set` payload.
 * @throws SoundeeError ERR_MQTT_COMMAND for a payload that is too large, not JSON, or not a command
 *   (unknown fields, wrong types, values out of range); the message says which.
 */
export function parseSetCommand(payload: Uint8Array | string): SetCommand {
  const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (bytes > MAX_COMMAND_BYTES) commandError(`a command of ${bytes} bytes is over the limit of ${MAX_COMMAND_BYTES}`);
  const text = typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    commandError(`not JSON (${(e as Error).message}); send an object such as {"disable":["speech"]}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    commandError('a command must be a JSON object such as {"disable":["speech"]}');
  const reason = mqttPayloadError(setCommandSchema, value);
  if (reason) commandError(reason);
  const c = value as {
    id?: string | number;
    enable?: string[];
    disable?: string[];
    thresholds?: Record<string, number | null>;
    snooze?: Record<string, number>;
  };
  const change: EventControlChange = {
    ...(c.enable ? { enable: c.enable } : {}),
    ...(c.disable ? { disable: c.disable } : {}),
    ...(c.thresholds ? { thresholds: c.thresholds } : {}),
    ...(c.snooze ? { snoozeMinutes: c.snooze } : {}),
  };
  return c.id === undefined ? { change } : { id: c.id, change };
}

/** The id of a payload that failed to parse, when it can still be read (so that a refusal can be matched too). */
function idOf(payload: Uint8Array | string): string | number | undefined {
  try {
    const v = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8')) as { id?: unknown };
    return typeof v.id === 'string' || typeof v.id === 'number' ? v.id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parses and applies one `set` payload to `control`; never throws for a bad command.
 * @returns how it went (for `config.lastCommand`).
 */
export function runSetCommand(control: EventControl, payload: Uint8Array | string, nowMs: number): CommandResult {
  const at = new Date(nowMs).toISOString();
  let id: string | number | undefined;
  try {
    const cmd = parseSetCommand(payload);
    id = cmd.id;
    control.apply(cmd.change);
    return { ok: true, ...(id === undefined ? {} : { id }), at };
  } catch (e) {
    if (!(e instanceof SoundeeError) || (e.code !== 'ERR_MQTT_COMMAND' && e.code !== 'ERR_EVENT_CONTROL')) throw e;
    id ??= idOf(payload);
    return { ok: false, ...(id === undefined ? {} : { id }), at, error: { code: e.code, message: e.message } };
  }
}

/** The `config` payload: the settings in force, and the last command's result when there was one. */
export function configPayload(deviceId: string, control: EventControl, nowMs: number, lastCommand?: CommandResult): ConfigPayload {
  const classes: ConfigPayload['classes'] = {};
  for (const [name, s] of Object.entries(control.state()))
    classes[name] = {
      enabled: s.enabled,
      threshold: s.threshold,
      offThreshold: Math.round(s.offThreshold * 1e6) / 1e6,
      snoozedUntil: s.snoozedUntilMs === null ? null : new Date(s.snoozedUntilMs).toISOString(),
    };
  return { deviceId, classes, updatedAt: new Date(nowMs).toISOString(), ...(lastCommand ? { lastCommand } : {}) };
}
