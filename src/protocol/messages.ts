/**
 * The TypeScript shapes of protocol v1's messages, derived from their JSON Schemas (./schemas.ts) by
 * json-schema-to-ts: the schemas are the one declaration of the wire contract, and a field added
 * there appears here (and in docs/protocol.md, which a test keeps verbatim).
 */
import type { FromSchema } from 'json-schema-to-ts';
import type {
  classesSchema,
  clipSchema,
  endSchema,
  errorSchema,
  eventSchema,
  helloSchema,
  learnRequestSchema,
  learnResultSchema,
  pingSchema,
  pongSchema,
  predictionSchema,
  spectrogramSchema,
  statusSchema,
  subscribeSchema,
} from './schemas.ts';

/** if/then/else carry meaning here (an `end` event has `endMs`; each status kind its own fields). */
type Derive<S> = FromSchema<S & object, { parseIfThenElseKeywords: true }>;

/** Greets every connection: the model, its classes and feature settings, streams, the newest event id, what ingest accepts. */
export type HelloMessage = Derive<typeof helloSchema>;
/** The MQTT bridge's state in hello (and /v1/info), when the server publishes to a broker too. */
export type MqttInfo = NonNullable<HelloMessage['mqtt']>;
/** The feature settings as hello sends them (the model's, checked against FeatureConfig by the server). */
export type HelloFeatures = HelloMessage['features'];
/** A window's prediction: rounded scores, rmsDb null for digital silence. */
export type PredictionMessage = Derive<typeof predictionSchema>;
/**
 * A sound started or ended; `id` increases within one serverId, from 1. Flat (`endMs` and `reason`
 * optional whatever the phase), as the event layer produces events: the schema's "an end has endMs"
 * is checked when one is published.
 */
export type EventMessage = FromSchema<typeof eventSchema>;
/** What a pipeline publishes for an event; the server adds `type` and `id`. */
export type EventInput = Omit<EventMessage, 'type' | 'id'>;

/** Every status: drops, resume, stream and recorder reports with their own fields, and free-form kinds. */
export type StatusMessage = Derive<typeof statusSchema>;
/** Messages dropped for a slow client (predictions and spectrograms only), counted since it connected. */
export type DropsStatus = Extract<StatusMessage, { kind: 'drops' }>;
/** The answer to `since`: how many held events were replayed and whether any asked for are gone. */
export type ResumeStatus = Extract<StatusMessage, { kind: 'resume' }>;
/** A stream started, ended or failed. */
export type StreamStatus = Extract<StatusMessage, { kind: 'stream' }>;
/** The live microphone's health (soundee listen). */
export type RecorderStatus = Extract<StatusMessage, { kind: 'recorder' }>;
/** Teaching: a class being learned or removed (started, progress, done, failed). */
export type LearnStatus = Extract<StatusMessage, { kind: 'learn' }>;
/** The running model was replaced; a new hello came just before. */
export type ModelStatus = Extract<StatusMessage, { kind: 'model' }>;
/** A status of a kind the protocol does not define: free-form fields. */
export type OtherStatus = Exclude<StatusMessage, DropsStatus | ResumeStatus | StreamStatus | RecorderStatus | LearnStatus | ModelStatus>;

export type SpectrogramMessage = Derive<typeof spectrogramSchema>;
/** An RGB image as base64 of width·height·3 bytes, row-major, top row first. */
export type RgbImageData = SpectrogramMessage['columns'];
export type ErrorMessage = Derive<typeof errorSchema>;
export type PongMessage = Derive<typeof pongSchema>;

export type ServerMessage =
  | HelloMessage
  | PredictionMessage
  | EventMessage
  | StatusMessage
  | SpectrogramMessage
  | ErrorMessage
  | PongMessage;

/** Replaces the filter; with `since`, replays the held events after it. */
export type SubscribeMessage = Derive<typeof subscribeSchema>;
export type PingMessage = Derive<typeof pingSchema>;
/** Ingest only: no more audio. */
export type EndMessage = Derive<typeof endSchema>;
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

/** POST /v1/learn's body. */
export type LearnRequestBody = Derive<typeof learnRequestSchema>;
/** A clip of a learn request. */
export type ClipUpload = LearnRequestBody['examples'][number];
/** POST /v1/learn's answer. */
export type LearnResultBody = Derive<typeof learnResultSchema>;
/** GET /v1/classes's answer (and DELETE /v1/classes/<label>'s). */
export type ClassesBody = Derive<typeof classesSchema>;
/** POST /v1/clip's answer. */
export type ClipBody = Derive<typeof clipSchema>;
