/**
 * Protocol v1: the TypeScript shapes of the messages (their JSON Schemas are in ./schemas.ts and
 * docs/protocol.md), their validators, and the constants both ends share.
 *
 * This module has no Node-only dependencies beyond ajv, so the client library imports it too.
 */
import ajvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { FeatureConfig } from '../config.ts';
import type { SoundEvent } from '../events/tracker.ts';
import type { Prediction } from '../stream/operators.ts';
import type { PcmFormat } from '../audio/pcm.ts';
import {
  ALL_SCHEMAS,
  CLIENT_MESSAGE_SCHEMAS,
  ERROR_CODES,
  type ErrorCode,
  SERVER_MESSAGE_SCHEMAS,
  type SUBSCRIBABLE_TYPES,
} from './schemas.ts';

export { ERROR_CODES, type ErrorCode, SUBSCRIBABLE_TYPES } from './schemas.ts';

export const PROTOCOL_VERSION = 1;

/** WebSocket paths. `/` is kept as an alias of `/v1/stream` for protocol-v1 clients of `replay --port`. */
export const STREAM_PATH = '/v1/stream';
export const INGEST_PATH = '/v1/ingest';

/** Sample rates every server accepts on ingest (resampled when not the model's); hello.ingest lists the exact set. */
export const RESAMPLED_RATES_HZ = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000] as const;

/** A message type a client can subscribe to. */
export type SubscribableType = (typeof SUBSCRIBABLE_TYPES)[number];
/** Types a client gets when it does not say (spectrogram columns are opt-in: they are the bulk of the traffic). */
export const DEFAULT_TYPES: readonly SubscribableType[] = ['prediction', 'event', 'status'];

export interface HelloMessage {
  type: 'hello';
  protocolVersion: 1;
  /** Random per server process: event ids are comparable only within one serverId. */
  serverId: string;
  model: { name: string; architecture: string };
  classes: string[];
  features: FeatureConfig;
  confidenceThreshold: number;
  streams: string[];
  /** Newest event id so far (0 before the first). */
  lastEventId: number;
  /** The MQTT bridge's state, when the server publishes to a broker too. */
  mqtt?: MqttInfo;
  ingest: { enabled: boolean; formats: PcmFormat[]; sampleRatesHz: number[]; maxFrameBytes: number; maxFramesPerSecond: number };
}

/** The MQTT bridge's state in hello (and /v1/info). */
export interface MqttInfo {
  broker: string;
  deviceId: string;
  clientId: string;
  connected: boolean;
  connections: number;
  delivered: number;
  queued: number;
  inFlight: number;
  dropped: number;
  lastError?: string;
}

/** A window's prediction on the wire: the pipeline's Prediction, with digital silence's level as null. */
export interface PredictionMessage extends Omit<Prediction, 'rmsDb'> {
  type: 'prediction';
  /** dBFS; null for digital silence (JSON has no -Infinity). */
  rmsDb: number | null;
}

/** What a pipeline publishes for an event; the server adds `type` and `id`. */
export interface EventInput extends SoundEvent {
  /** Wall-clock times of startMs/endMs (ISO 8601), when the source knows them. */
  startTime?: string;
  endTime?: string;
}

export interface EventMessage extends EventInput {
  type: 'event';
  /** Monotonically increasing within one serverId, from 1. */
  id: number;
}

export interface DropsStatus {
  type: 'status';
  kind: 'drops';
  dropped: { prediction: number; spectrogram: number };
  total: number;
}

export interface ResumeStatus {
  type: 'status';
  kind: 'resume';
  since: number;
  replayed: number;
  /** false when some events after `since` are no longer held (or the server restarted). */
  complete: boolean;
  reason?: 'history-expired' | 'server-restarted';
  /** With reason 'history-expired': the ids that are gone. */
  lostFromId?: number;
  lostToId?: number;
  lastEventId: number;
}

export interface StreamStatus {
  type: 'status';
  kind: 'stream';
  streamId: string;
  state: 'started' | 'ended' | 'failed';
  source: string;
  sampleRateHz?: number;
  format?: PcmFormat;
  windows?: number;
  reason?: string;
}

/** The live microphone's health report (soundee listen). */
export interface RecorderStatus {
  type: 'status';
  kind: 'recorder';
  streamId: string;
  state: string;
  level: 'info' | 'warning' | 'error';
  message: string;
  time?: string;
  [field: string]: unknown;
}

/** A status of a kind the protocol does not define: free-form fields. */
export interface OtherStatus {
  type: 'status';
  kind: string;
  streamId?: string;
  [field: string]: unknown;
}

export type StatusMessage = DropsStatus | ResumeStatus | StreamStatus | RecorderStatus | OtherStatus;

export interface RgbImageData {
  width: number;
  height: number;
  /** base64 of width·height·3 bytes, RGB, row-major, top row first. */
  data: string;
}

export interface SpectrogramMessage {
  type: 'spectrogram';
  streamId: string;
  index: number;
  startMs: number;
  endMs: number;
  /** The STFT frames this window adds (all of them for window 0), colormapped; highest band on top. */
  columns: RgbImageData;
  /** The model input image of the window. */
  input: RgbImageData;
}

export interface ErrorMessage {
  type: 'error';
  code: ErrorCode;
  message: string;
  /** true when the server closes the connection next. */
  fatal: boolean;
  streamId?: string;
}

export interface PongMessage {
  type: 'pong';
  id?: string | number;
  serverTime: number;
}

export type ServerMessage =
  | HelloMessage
  | PredictionMessage
  | EventMessage
  | StatusMessage
  | SpectrogramMessage
  | ErrorMessage
  | PongMessage;

export interface SubscribeMessage {
  type: 'subscribe';
  streams?: string[];
  classes?: string[];
  types?: SubscribableType[];
  since?: number;
  serverId?: string;
}

export interface PingMessage {
  type: 'ping';
  id?: string | number;
}

export interface EndMessage {
  type: 'end';
}

export type ClientMessage = SubscribeMessage | PingMessage | EndMessage;

/** Server messages by type (for typed handlers). */
export interface ServerMessageMap {
  hello: HelloMessage;
  prediction: PredictionMessage;
  event: EventMessage;
  status: StatusMessage;
  spectrogram: SpectrogramMessage;
  error: ErrorMessage;
  pong: PongMessage;
}

// ---------------------------------------------------------------- validation

// ajv is CommonJS; under NodeNext its class is the default export's `default`.
const Ajv = ajvModule.default;
const ajv = new Ajv({ allErrors: false, strict: true, strictRequired: false, allowUnionTypes: true });
for (const s of ALL_SCHEMAS) ajv.addSchema(s);
const validators = new Map<string, ValidateFunction>();
for (const s of ALL_SCHEMAS) validators.set(s.$id, ajv.getSchema(s.$id)!);

/** A validation verdict: ok, or a one-line reason naming the offending field. */
export type Verdict = { ok: true } | { ok: false; reason: string };

function describe(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'invalid';
  const where = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : 'message';
  const extra =
    e.keyword === 'additionalProperties'
      ? ` (${(e.params as { additionalProperty: string }).additionalProperty})`
      : e.keyword === 'enum'
        ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})`
        : '';
  return `${where} ${e.message ?? 'is invalid'}${extra}`;
}

function validateBy(table: Record<string, { $id: string }>, value: unknown, direction: string): Verdict {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'a message must be a JSON object' };
  const type = (value as { type?: unknown }).type;
  const schema = typeof type === 'string' && Object.hasOwn(table, type) ? table[type] : undefined;
  if (!schema)
    return {
      ok: false,
      reason: `unknown ${direction} message type ${JSON.stringify(type)}; expected one of ${Object.keys(table).join(', ')}`,
    };
  const v = validators.get(schema.$id)!;
  return v(value) ? { ok: true } : { ok: false, reason: `${type}: ${describe(v.errors)}` };
}

/** Checks a message a server sends (hello, prediction, event, status, spectrogram, error, pong). */
export const validateServerMessage = (value: unknown): Verdict => validateBy(SERVER_MESSAGE_SCHEMAS, value, 'server');
/** Checks a message a client sends (subscribe, ping, end). */
export const validateClientMessage = (value: unknown): Verdict => validateBy(CLIENT_MESSAGE_SCHEMAS, value, 'client');

/** The close code that follows an error code (null: the connection stays open). */
export const closeCodeOf = (code: ErrorCode): number | null => ERROR_CODES[code].close;

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
