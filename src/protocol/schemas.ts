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

const modelName = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'architecture'],
  properties: { name: { type: 'string' }, architecture: { type: 'string' } },
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
    model: modelName,
    classes: { type: 'array', items: label },
    features: featureConfig,
    confidenceThreshold: probability,
    heldOut: {
      type: 'object',
      additionalProperties: false,
      required: ['recall'],
      description:
        "how far to trust each class: the model's cross-validation by package (soundee cv), when it has one; learned classes have no figure",
      properties: {
        recall: {
          type: 'object',
          additionalProperties: probability,
          description: 'per class, the share of its windows recognised on recordings from packages the model never trained on',
        },
      },
    },
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
    learn: {
      type: 'object',
      additionalProperties: false,
      required: ['enabled'],
      description:
        'whether this server learns classes at run time (POST /v1/learn; GET /v1/classes tells the limits); absent from servers before teaching',
      properties: { enabled: { type: 'boolean' } },
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
        "on 'end' only, when the event ended for another reason than its sound stopping: the stream's audio ended (end of file, the ingest client's end or disconnection), it was stopped (Ctrl-C), the server shut down, the stream failed, the class was disabled (event settings changed at run time) or snoozed, or the running model was replaced by one without the class (model-changed: a learned class removed) (absent on natural ends)",
    },
  },
  if: { properties: { phase: { const: 'end' } } },
  then: { required: ['endMs'] },
  else: { not: { required: ['reason'] } },
} as const;

export const statusSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}status`,
  title:
    'status (server → client): drops, resume results, stream lifecycle, recorder health, teaching and model changes; other kinds may carry any fields',
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
    {
      if: { properties: { kind: { const: 'learn' } } },
      then: {
        description:
          'teaching (POST /v1/learn, DELETE /v1/classes/<label>): a class is being learned or removed; started, progress, then done or failed',
        additionalProperties: false,
        required: ['action', 'label', 'state'],
        properties: {
          type: true,
          kind: true,
          action: { enum: ['learn', 'remove'] },
          label,
          state: { enum: ['started', 'progress', 'done', 'failed'] },
          stage: { type: 'string', description: 'what is being done now, for people' },
          progress: { ...probability, description: 'share of the work done' },
          code: { type: 'string', description: 'when failed: the error code the request was answered with' },
          message: { type: 'string', description: 'when failed: why, for people' },
        },
      },
    },
    {
      if: { properties: { kind: { const: 'model' } } },
      then: {
        description: 'the running model was replaced (a class learned or removed); every connection got the new hello just before',
        additionalProperties: false,
        required: ['state', 'model', 'classes', 'added', 'removed'],
        properties: {
          type: true,
          kind: true,
          state: { const: 'changed' },
          model: modelName,
          classes: { type: 'array', items: label },
          added: { type: 'array', items: label, description: 'classes the new model has and the old one had not' },
          removed: {
            type: 'array',
            items: label,
            description: "classes gone with the old model (their open events ended with reason 'model-changed')",
          },
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

// ---------------------------------------------------------------- HTTP bodies: teaching a class

/** A clip sent to be learned from (or previewed): a WAV file, and the part of it to keep. */
const clipUpload = {
  type: 'object',
  additionalProperties: false,
  required: ['wav'],
  properties: {
    name: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description: "the clip's name in the model's metadata and in errors (default example-1, negative-1, …)",
    },
    wav: {
      type: 'string',
      description:
        "base64 of a WAV file: 8/16/24/32-bit integer or 32/64-bit float PCM, any channel count (downmixed), any rate (a browser sends its own: the server resamples by the model's rule)",
    },
    startMs: { ...millis, description: 'keep the clip from here (trim; default its start)' },
    endMs: { ...millis, description: 'keep the clip up to here (trim; default its end)' },
  },
} as const;

export const learnRequestSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}learn-request`,
  title: 'learn request (POST /v1/learn, application/json): a new class from a few recordings of it',
  type: 'object',
  additionalProperties: false,
  required: ['label', 'examples'],
  properties: {
    label: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description: 'the new class: letters, digits, spaces, _ . - (not a class the model has, not "unknown")',
    },
    examples: { type: 'array', items: clipUpload, description: 'recordings of the sound, one sound per clip (3–20 work best)' },
    negatives: {
      type: 'array',
      items: clipUpload,
      description: 'recordings of what must not trigger it: your room, your TV, a similar appliance',
    },
  },
} as const;

/** A learned class's record, as the model's metadata keeps it. */
const learnedClass = {
  addedAt: { type: 'string', description: 'when it was learned (ISO 8601)' },
  examples: {
    type: 'object',
    additionalProperties: false,
    required: ['files', 'windows'],
    properties: {
      files: { type: 'array', items: { type: 'string' } },
      windows: { ...count, description: 'sound windows of the examples' },
    },
  },
  negatives: {
    type: 'object',
    additionalProperties: false,
    required: ['files', 'windows', 'bank'],
    properties: {
      files: { type: 'array', items: { type: 'string' } },
      windows: count,
      bank: { ...count, description: "windows of the model's bank" },
    },
  },
  check: {
    type: 'object',
    additionalProperties: false,
    required: ['examplesOnTop', 'bankOnTop'],
    properties: {
      examplesOnTop: { ...probability, description: "share of the examples' sound windows on which the class is on top" },
      bankOnTop: { ...probability, description: "share of the bank's windows of other sounds it takes" },
      heldOutTakes: {
        type: 'object',
        additionalProperties: false,
        required: ['recognised', 'of', 'windowShare'],
        description:
          'leave-one-out: learned again without each take in turn, the takes on which it is on top for at least half of the sound windows (absent from classes learned before this check existed)',
        properties: {
          recognised: count,
          of: count,
          windowShare: { ...probability, description: "share of all the takes' sound windows on top, each take left out" },
        },
      },
    },
  },
  events: {
    type: 'object',
    additionalProperties: false,
    required: ['threshold', 'minDurationMs'],
    properties: { threshold: probability, minDurationMs: millis },
    description: "the class's own event settings",
  },
} as const;

export const learnResultSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}learn-result`,
  title: 'learn result (the answer to POST /v1/learn): the class learned; the server now runs the new model',
  type: 'object',
  additionalProperties: false,
  required: ['label', 'classes', 'model', 'modelDir', 'addedAt', 'examples', 'negatives', 'check', 'events', 'padded', 'bank', 'seconds'],
  properties: {
    label,
    classes: { type: 'array', items: label, description: "the new model's classes" },
    model: modelName,
    modelDir: { type: 'string', description: 'where the new model was written (start a server with --model <modelDir> to keep it)' },
    ...learnedClass,
    padded: { type: 'array', items: { type: 'string' }, description: 'examples shorter than one window (padded with silence)' },
    bank: {
      anyOf: [{ ...count }, { enum: ['none', 'stale'] }],
      description: "bank windows fitted against; 'none' when the model has no bank, 'stale' when it was made for another network",
    },
    seconds: { type: 'number', minimum: 0, description: 'time spent learning and switching the model' },
  },
} as const;

export const classesSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}classes`,
  title:
    'classes (GET /v1/classes, and the answer to DELETE /v1/classes/<label>): the running model’s classes, which are learned, and what teaching takes',
  type: 'object',
  additionalProperties: false,
  required: ['model', 'classes', 'learn'],
  properties: {
    model: modelName,
    classes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['label', 'learned'],
        properties: { label, learned: { type: 'boolean', description: 'learned by teaching (can be removed)' }, ...learnedClass },
      },
    },
    learn: {
      type: 'object',
      additionalProperties: false,
      required: ['enabled', 'minExamples', 'maxExamples', 'maxNegatives', 'minClipMs', 'maxClipMs', 'maxBodyBytes'],
      properties: {
        enabled: { type: 'boolean', description: 'whether this server learns (POST /v1/learn)' },
        minExamples: count,
        maxExamples: count,
        maxNegatives: count,
        minClipMs: millis,
        maxClipMs: millis,
        maxBodyBytes: { ...count, description: 'largest POST /v1/learn body' },
      },
    },
  },
} as const;

export const clipSchema = {
  $schema: DRAFT,
  $id: `${SCHEMA_ID_PREFIX}clip`,
  title:
    "clip (the answer to POST /v1/clip): a WAV file as the model sees it — its spectrogram and windows, rendered by the server's feature path",
  type: 'object',
  additionalProperties: false,
  required: ['sampleRateHz', 'durationMs', 'startMs', 'endMs', 'padded', 'spectrogram', 'framesPerSecond', 'windows'],
  properties: {
    sampleRateHz: { type: 'integer', minimum: 1, description: "the file's own rate (the spectrogram is at the model's)" },
    durationMs: { ...millis, description: 'length of the whole file' },
    startMs: { ...millis, description: 'start of the part rendered (the trim asked for)' },
    endMs: { ...millis, description: 'end of the part rendered' },
    padded: { type: 'boolean', description: 'the part is shorter than one window and was padded with silence (the pad rule)' },
    spectrogram: {
      ...rgbImage,
      description:
        'the whole part, one column per STFT frame (oldest left, highest band on top), coloured as the dashboard colours a stream',
    },
    framesPerSecond: { type: 'number', exclusiveMinimum: 0, description: 'spectrogram columns per second of audio' },
    windows: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['index', 'startMs', 'endMs', 'rmsDb', 'sound'],
        properties: {
          index: count,
          startMs: { ...millis, description: 'from the start of the part' },
          endMs: millis,
          rmsDb: { type: ['number', 'null'], description: 'RMS level in dBFS; null for digital silence' },
          sound: { type: 'boolean', description: 'learning would use this window: above the level gate and within 12 dB of the loudest' },
        },
      },
    },
  },
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

/** Schemas of the teaching endpoints' HTTP bodies (request and answers). */
export const HTTP_SCHEMAS = {
  learnRequest: learnRequestSchema,
  learnResult: learnResultSchema,
  classes: classesSchema,
  clip: clipSchema,
} as const;

export const ALL_SCHEMAS = [
  ...Object.values(SERVER_MESSAGE_SCHEMAS),
  ...Object.values(CLIENT_MESSAGE_SCHEMAS),
  ...Object.values(HTTP_SCHEMAS),
];
