/**
 * JSON Schemas (draft-07) of every protocol v1 message. These objects are the source of truth:
 * the server validates what it receives and publishes against them, the tests validate both
 * directions, and `docs/protocol.md` shows each one verbatim (a test checks that it does).
 *
 * Each schema is self-contained (no `$ref`), so that it can be copied out of the doc and used alone.
 * The TypeScript types of the messages are derived from these objects (./messages.ts): the contract
 * is written once.
 *
 * Imports only leaves: the protocol's constants and the feature settings' enums (../config.ts).
 */
import { COLORMAPS, DB_REFERENCES, FREQUENCY_SCALES, RESAMPLERS, RESIZE_KERNELS, WINDOW_FUNCTIONS } from '../config.ts';
import { EVENT_END_REASONS, PCM_FORMATS, RESUME_REASONS, SCHEMA_ID_PREFIX, SUBSCRIBABLE_TYPES } from './constants.ts';
import { ERROR_CODE_LIST } from './errors.ts';

const DRAFT = 'http://json-schema.org/draft-07/schema#';

const streamId = { type: 'string', minLength: 1, maxLength: 1024 } as const;
const count = { type: 'integer', minimum: 0 } as const;
const millis = { type: 'number', minimum: 0 } as const;
const probability = { type: 'number', minimum: 0, maximum: 1 } as const;
const label = { type: 'string', minLength: 1, maxLength: 256 } as const;

/** An RGB image as base64 of width·height·3 bytes, row-major, top row first. */
const rgbImage = {
  type: 'object',
  required: ['width', 'height', 'data'],
  additionalProperties: false,
  properties: {
    width: { type: 'integer', minimum: 1 },
    height: { type: 'integer', minimum: 1 },
    data: { type: 'string', description: 'base64 of width·height·3 bytes (RGB, row-major, top row first)' },
  },
} as const;

const featureConfig = {
  type: 'object',
  additionalProperties: false,
  required: [
    'sampleRateHz',
    'windowMillis',
    'hopMillis',
    'fftSize',
    'stftHopSamples',
    'windowFunction',
    'frequencyScale',
    'bands',
    'fMinHz',
    'fMaxHz',
    'dbReference',
    'dbRangeDb',
    'noiseFloorDb',
    'colormap',
    'imageSize',
    'resizeKernel',
  ],
  properties: {
    sampleRateHz: { type: 'integer' },
    resampler: {
      enum: [...RESAMPLERS],
      description: 'how every source reaches sampleRateHz (absent from servers older than the setting: sinc-medium)',
    },
    windowMillis: { type: 'number' },
    hopMillis: { type: 'number' },
    fftSize: { type: 'integer' },
    stftHopSamples: { type: 'integer' },
    windowFunction: { enum: [...WINDOW_FUNCTIONS] },
    frequencyScale: { enum: [...FREQUENCY_SCALES] },
    bands: { type: 'integer' },
    fMinHz: { type: 'number' },
    fMaxHz: { type: 'number' },
    dbReference: { enum: [...DB_REFERENCES] },
    dbRangeDb: { type: 'number' },
    noiseFloorDb: { type: 'number' },
    colormap: { enum: [...COLORMAPS] },
    imageSize: { type: 'integer' },
    resizeKernel: { enum: [...RESIZE_KERNELS] },
  },
} as const;

// ---------------------------------------------------------------- server → client

export const helloSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}hello`,
  title: 'hello (server → client, first message on every connection)',
  type: 'object',
  additionalProperties: false,
  required: [
    'type',
    'protocolVersion',
    'serverId',
    'model',
    'classes',
    'features',
    'confidenceThreshold',
    'streams',
    'lastEventId',
    'ingest',
  ],
  properties: {
    type: { const: 'hello' },
    protocolVersion: { const: 1 },
    serverId: { type: 'string', minLength: 1, description: 'random per server process; event ids are only comparable within one serverId' },
    model: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'architecture'],
      properties: { name: { type: 'string' }, architecture: { type: 'string' } },
    },
    classes: { type: 'array', items: label },
    features: featureConfig,
    confidenceThreshold: probability,
    streams: { type: 'array', items: streamId, description: 'streams known now (replayed files, microphones, open ingest streams)' },
    lastEventId: { ...count, description: 'id of the newest event so far (0 before the first)' },
    mqtt: {
      type: 'object',
      additionalProperties: false,
      description: 'the MQTT bridge (--mqtt, docs/mqtt.md), when there is one: its broker and delivery counters',
      required: ['broker', 'deviceId', 'clientId', 'connected', 'connections', 'delivered', 'queued', 'inFlight', 'dropped'],
      properties: {
        broker: { type: 'string', description: 'the broker URL, without credentials' },
        deviceId: { type: 'string' },
        clientId: { type: 'string' },
        connected: { type: 'boolean' },
        connections: { ...count, description: 'successful connections so far' },
        delivered: { ...count, description: 'events the broker acknowledged' },
        queued: { ...count, description: 'events waiting for the broker to come back' },
        inFlight: { ...count, description: 'messages sent and not yet acknowledged' },
        dropped: { ...count, description: 'events dropped while the broker was away (queue full, oldest first)' },
        lastError: { type: 'string', description: 'the last connection problem since the last connection' },
      },
    },
    ingest: {
      type: 'object',
      additionalProperties: false,
      required: ['enabled', 'formats', 'sampleRatesHz', 'maxFrameBytes', 'maxFramesPerSecond'],
      properties: {
        enabled: { type: 'boolean' },
        formats: { type: 'array', items: { enum: [...PCM_FORMATS] } },
        sampleRatesHz: { type: 'array', items: { type: 'integer' } },
        maxFrameBytes: { type: 'integer', minimum: 1, description: 'largest binary message' },
        maxFramesPerSecond: {
          type: 'number',
          exclusiveMinimum: 0,
          description: 'sustained binary messages per second (bursts of twice that)',
        },
      },
    },
  },
} as const;

export const predictionSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}prediction`,
  title: 'prediction (server → client, one per window hop and stream)',
  type: 'object',
  additionalProperties: false,
  required: ['type', 'streamId', 'index', 'startMs', 'endMs', 'label', 'confidence', 'scores', 'rmsDb'],
  properties: {
    type: { const: 'prediction' },
    streamId,
    index: { ...count, description: 'window number within the stream' },
    startMs: { ...millis, description: 'window start, ms from the start of the stream' },
    endMs: millis,
    label: { ...label, description: "top class, or 'unknown' under the confidence threshold" },
    confidence: probability,
    scores: { type: 'object', additionalProperties: probability, description: 'probability per class' },
    rmsDb: { type: ['number', 'null'], description: 'RMS level of the window in dBFS; null for digital silence' },
  },
} as const;

export const eventSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}event`,
  title: 'event (server → client): a sound started or ended',
  type: 'object',
  additionalProperties: false,
  required: ['type', 'id', 'streamId', 'label', 'phase', 'startMs', 'peakConfidence', 'meanConfidence'],
  properties: {
    type: { const: 'event' },
    id: { type: 'integer', minimum: 1, description: 'monotonically increasing per serverId; resume with since' },
    streamId,
    label,
    phase: { enum: ['start', 'end'] },
    startMs: millis,
    endMs: { ...millis, description: "present when phase is 'end'" },
    peakConfidence: probability,
    meanConfidence: probability,
    startTime: { type: 'string', description: 'wall-clock time of startMs (ISO 8601), when the source knows it (a live microphone)' },
    endTime: { type: 'string', description: 'wall-clock time of endMs (ISO 8601), when known' },
    reason: {
      enum: [...EVENT_END_REASONS],
      description:
        "on 'end' only, when the event ended for another reason than its sound stopping: the stream's audio ended (end of file, the ingest client's end or disconnection), it was stopped (Ctrl-C), the server shut down, the stream failed, or the class was disabled (event settings changed at run time) or snoozed (absent on natural ends)",
    },
  },
  if: { properties: { phase: { const: 'end' } } },
  then: { required: ['endMs'] },
  else: { not: { required: ['reason'] } },
} as const;

export const statusSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}status`,
  title: 'status (server → client): drops, resume results, stream lifecycle, recorder health; other kinds may carry any fields',
  type: 'object',
  required: ['type', 'kind'],
  properties: {
    type: { const: 'status' },
    kind: { type: 'string', pattern: '^[a-z][a-z0-9-]*$' },
    streamId,
  },
  allOf: [
    {
      if: { properties: { kind: { const: 'drops' } } },
      then: {
        description:
          'messages this client was too slow to take and that were dropped (predictions and spectrograms only; counts since connecting)',
        additionalProperties: false,
        required: ['dropped', 'total'],
        properties: {
          type: true,
          kind: true,
          dropped: {
            type: 'object',
            additionalProperties: false,
            required: ['prediction', 'spectrogram'],
            properties: { prediction: count, spectrogram: count },
          },
          total: count,
        },
      },
    },
    {
      if: { properties: { kind: { const: 'resume' } } },
      then: {
        description: 'answer to since: how many held events were replayed, and whether any asked for are gone',
        additionalProperties: false,
        required: ['since', 'replayed', 'complete', 'lastEventId'],
        properties: {
          type: true,
          kind: true,
          since: count,
          replayed: count,
          complete: { type: 'boolean' },
          reason: { enum: [...RESUME_REASONS] },
          lostFromId: { type: 'integer', minimum: 1 },
          lostToId: { type: 'integer', minimum: 1 },
          lastEventId: count,
        },
      },
    },
    {
      if: { properties: { kind: { const: 'stream' } } },
      then: {
        description: 'a stream started, ended or failed',
        additionalProperties: false,
        required: ['streamId', 'state', 'source'],
        properties: {
          type: true,
          kind: true,
          streamId,
          state: { enum: ['started', 'ended', 'failed'] },
          source: { type: 'string' },
          sampleRateHz: { type: 'integer' },
          format: { enum: [...PCM_FORMATS] },
          windows: count,
          reason: { type: 'string' },
        },
      },
    },
    {
      if: { properties: { kind: { const: 'recorder' } } },
      then: {
        description:
          "the live microphone's health (soundee listen): recorder started/stopped/restarting, silence, clipping, dead input; further fields depend on state",
        required: ['streamId', 'state', 'level', 'message'],
        properties: {
          streamId,
          state: { type: 'string' },
          level: { enum: ['info', 'warning', 'error'] },
          message: { type: 'string' },
          time: { type: 'string', description: 'wall-clock time of the report (ISO 8601)' },
        },
      },
    },
  ],
} as const;

export const spectrogramSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}spectrogram`,
  title: 'spectrogram (server → client, opt-in): new spectrogram columns and the model input image of a window',
  type: 'object',
  additionalProperties: false,
  required: ['type', 'streamId', 'index', 'startMs', 'endMs', 'columns', 'input'],
  properties: {
    type: { const: 'spectrogram' },
    streamId,
    index: count,
    startMs: millis,
    endMs: millis,
    columns: {
      ...rgbImage,
      description: 'the columns (STFT frames) this window adds, colormapped by the feature path; the whole window for index 0',
    },
    input: { ...rgbImage, description: 'the model input image of the window (imageSize × imageSize)' },
  },
} as const;

export const errorSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}error`,
  title: 'error (server → client; also the JSON body of HTTP errors)',
  type: 'object',
  additionalProperties: false,
  required: ['type', 'code', 'message', 'fatal'],
  properties: {
    type: { const: 'error' },
    code: { enum: ERROR_CODE_LIST },
    message: { type: 'string', description: 'one human-readable line; never a stack trace' },
    fatal: { type: 'boolean', description: 'true when the server closes the connection next (with the close code of the table)' },
    streamId,
  },
} as const;

export const pongSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}pong`,
  title: 'pong (server → client): answer to ping',
  type: 'object',
  additionalProperties: false,
  required: ['type', 'serverTime'],
  properties: {
    type: { const: 'pong' },
    id: { type: ['string', 'number'] },
    serverTime: { type: 'number', description: 'server clock, ms since the Unix epoch' },
  },
} as const;

// ---------------------------------------------------------------- client → server

export const subscribeSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}subscribe`,
  title: 'subscribe (client → server): replace the filter; optionally resume events after since',
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { const: 'subscribe' },
    streams: { type: 'array', items: streamId, maxItems: 256, description: 'only these streams (absent: all)' },
    classes: { type: 'array', items: label, maxItems: 256, description: 'only predictions and events with these labels (absent: all)' },
    types: {
      type: 'array',
      items: { enum: [...SUBSCRIBABLE_TYPES] },
      uniqueItems: true,
      description: 'message types to receive (absent: prediction, event, status; spectrogram is opt-in). hello, error and pong always come',
    },
    since: { ...count, description: 'replay held events with a larger id (the last event id the client saw)' },
    serverId: {
      type: 'string',
      maxLength: 64,
      description: 'serverId the since refers to (from hello); a different one means the server restarted',
    },
  },
} as const;

export const pingSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}ping`,
  title: 'ping (client → server): the server answers pong',
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { const: 'ping' },
    id: { anyOf: [{ type: 'string', maxLength: 64 }, { type: 'number' }] },
  },
} as const;

export const endSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}end`,
  title: 'end (client → server, ingest only): no more audio; the server finishes the stream and closes with 1000',
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: { type: { const: 'end' } },
} as const;

/** Schemas of messages the server sends, by type. */
export const SERVER_MESSAGE_SCHEMAS = {
  hello: helloSchema,
  prediction: predictionSchema,
  event: eventSchema,
  status: statusSchema,
  spectrogram: spectrogramSchema,
  error: errorSchema,
  pong: pongSchema,
} as const;

/** Schemas of messages clients send, by type. */
export const CLIENT_MESSAGE_SCHEMAS = {
  subscribe: subscribeSchema,
  ping: pingSchema,
  end: endSchema,
} as const;

export const ALL_SCHEMAS = [...Object.values(SERVER_MESSAGE_SCHEMAS), ...Object.values(CLIENT_MESSAGE_SCHEMAS)];
