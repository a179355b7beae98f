/**
 * JSON Schemas (draft-07) of the JSON payloads Soundee's MQTT topics carry besides events (whose
 * schema is the WebSocket protocol's `event`): the level, the `set` commands and the `config` answer.
 * `docs/mqtt.md` shows each one verbatim (a test checks that it does); the bridge validates commands
 * against `setCommandSchema` and its own config and level payloads in the tests.
 */
import ajvModule, { type ErrorObject } from 'ajv';
import { EVENT_CONTROL_LIMITS } from '../events/control.ts';

const DRAFT = 'http://json-schema.org/draft-07/schema#';
/** Prefix of every MQTT payload schema's `$id`. */
export const MQTT_SCHEMA_ID_PREFIX = 'urn:soundee:mqtt:v1:';

const label = { type: 'string', minLength: 1, maxLength: 256 } as const;
const isoTime = { type: 'string', description: 'ISO 8601 wall-clock time' } as const;

export const levelSchema = {
  $schema: DRAFT,
  $id: `${MQTT_SCHEMA_ID_PREFIX}level`,
  title: 'level (<prefix>/<device>/level): the loudest window of the last second',
  type: 'object',
  additionalProperties: false,
  required: ['streamId', 'rmsDb', 'time'],
  properties: {
    streamId: { type: 'string', minLength: 1, maxLength: 1024, description: 'the stream the loudest window came from' },
    rmsDb: { type: ['number', 'null'], maximum: 0, description: 'RMS level of the window, dBFS, 0.1 dB steps; null for digital silence' },
    time: isoTime,
  },
} as const;

export const setCommandSchema = {
  $schema: DRAFT,
  $id: `${MQTT_SCHEMA_ID_PREFIX}set`,
  title: 'set command (<prefix>/<device>/set): change the event settings at run time; every field optional, applied all or nothing',
  type: 'object',
  additionalProperties: false,
  properties: {
    id: {
      type: ['string', 'number'],
      maxLength: 256,
      description: 'any id of your choosing, echoed in config.lastCommand.id so that you can match the answer',
    },
    enable: { type: 'array', items: label, maxItems: 1024, description: 'classes that may raise events again' },
    disable: {
      type: 'array',
      items: label,
      maxItems: 1024,
      description: 'classes that raise no events until enabled; an open event ends now',
    },
    thresholds: {
      type: 'object',
      maxProperties: 1024,
      description: 'per class: the smoothed probability that starts an event, in (0, 1]; null restores the start-up value',
      additionalProperties: { anyOf: [{ type: 'number', exclusiveMinimum: 0, maximum: 1 }, { type: 'null' }] },
    },
    snooze: {
      type: 'object',
      maxProperties: 1024,
      description: 'per class: minutes without events from now (an open event ends now); 0 ends a snooze',
      additionalProperties: { type: 'number', minimum: 0, maximum: EVENT_CONTROL_LIMITS.maxSnoozeMinutes },
    },
  },
} as const;

const classState = {
  type: 'object',
  additionalProperties: false,
  required: ['enabled', 'threshold', 'offThreshold', 'snoozedUntil'],
  properties: {
    enabled: { type: 'boolean' },
    threshold: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
    offThreshold: { type: 'number', minimum: 0, maximum: 1 },
    snoozedUntil: { anyOf: [isoTime, { type: 'null' }], description: 'end of the snooze, or null' },
  },
} as const;

export const configSchema = {
  $schema: DRAFT,
  $id: `${MQTT_SCHEMA_ID_PREFIX}config`,
  title: 'config (<prefix>/<device>/config, retained): the event settings in force and the answer to the last command',
  type: 'object',
  additionalProperties: false,
  required: ['deviceId', 'classes', 'updatedAt'],
  properties: {
    deviceId: { type: 'string' },
    classes: { type: 'object', additionalProperties: classState, description: 'per class that can raise events' },
    updatedAt: isoTime,
    lastCommand: {
      type: 'object',
      additionalProperties: false,
      required: ['ok', 'at'],
      properties: {
        ok: { type: 'boolean', description: 'false: the command was refused and changed nothing' },
        id: { type: ['string', 'number'], description: "the command's id, when it had one" },
        at: isoTime,
        error: {
          type: 'object',
          additionalProperties: false,
          required: ['code', 'message'],
          properties: {
            code: { enum: ['ERR_MQTT_COMMAND', 'ERR_EVENT_CONTROL'] },
            message: { type: 'string' },
          },
        },
      },
    },
  },
} as const;

/** Every MQTT payload schema. */
export const MQTT_SCHEMAS = [levelSchema, setCommandSchema, configSchema] as const;

// ajv is CommonJS; under NodeNext its class is the default export's `default`.
const Ajv = ajvModule.default;
const ajv = new Ajv({ allErrors: false, strict: true, strictRequired: false, allowUnionTypes: true });
for (const s of MQTT_SCHEMAS) ajv.addSchema(s);

/** Validates `value` against one of MQTT_SCHEMAS; returns null when valid, else a one-line reason. */
export function mqttPayloadError(schema: (typeof MQTT_SCHEMAS)[number], value: unknown): string | null {
  const v = ajv.getSchema(schema.$id)!;
  if (v(value)) return null;
  const e: ErrorObject | undefined = v.errors?.[0];
  if (!e) return 'invalid';
  const where = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : 'the command';
  const extra = e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : '';
  return `${where} ${e.message ?? 'is invalid'}${extra}`;
}
