/**
 * Constants of protocol v1 that both ends share. A leaf: nothing of the pipeline is imported here
 * (the audio code takes its PCM formats from this module, not the other way round).
 */

export const PROTOCOL_VERSION = 1;

/** WebSocket paths. `/` is kept as an alias of `/v1/stream` for protocol-v1 clients of `replay --port`. */
export const STREAM_PATH = '/v1/stream';
export const INGEST_PATH = '/v1/ingest';
/** The hello as JSON over plain HTTP. */
export const INFO_PATH = '/v1/info';
/** Teaching: POST a new class's examples (JSON) to learn it; the running model is replaced by the result. */
export const LEARN_PATH = '/v1/learn';
/** The model's classes (GET); `DELETE /v1/classes/<label>` removes a learned one. */
export const CLASSES_PATH = '/v1/classes';
/** POST a WAV file: its spectrogram and windows, rendered by the server's feature path (the teach panel's preview). */
export const CLIP_PATH = '/v1/clip';

/** Raw PCM sample formats accepted on `/v1/ingest` (little-endian, interleaved channels are not accepted: mono). */
export const PCM_FORMATS = ['s16le', 'f32le'] as const;
export type PcmFormat = (typeof PCM_FORMATS)[number];

/** Sample rates every server accepts on ingest (resampled when not the model's); hello.ingest lists the exact set. */
export const RESAMPLED_RATES_HZ = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000] as const;

/** Message types a client can subscribe to. */
export const SUBSCRIBABLE_TYPES = ['prediction', 'event', 'status', 'spectrogram'] as const;
export type SubscribableType = (typeof SUBSCRIBABLE_TYPES)[number];
/** Types a client gets when it does not say (spectrogram columns are opt-in: they are the bulk of the traffic). */
export const DEFAULT_TYPES: readonly SubscribableType[] = ['prediction', 'event', 'status'];

/** Status kinds with a defined shape: the server's own, and the live microphone's 'recorder' reports. */
export const STATUS_KINDS = ['drops', 'resume', 'stream', 'recorder', 'learn', 'model'] as const;

/**
 * Why a `since` resume is not complete: events after `since` are no longer held (history-expired),
 * the `serverId` names another server process (server-restarted), or `since` is newer than any event
 * of this server (unknown-id: an id from another server process, or one made up).
 */
export const RESUME_REASONS = ['history-expired', 'server-restarted', 'unknown-id'] as const;
export type ResumeReason = (typeof RESUME_REASONS)[number];

/**
 * Why an event ended other than by its sound stopping (on `end` events only): its stream's audio
 * ended (a file's end, an ingest client's `end` or disconnection), it was stopped (Ctrl-C, a command),
 * the server shut down, the stream failed, its class was disabled (a run-time change of the event
 * settings: a set command, `Engine.setEventOptions`) or snoozed, or the running model was replaced by
 * one without the class (`Engine.swapModel`: a learned class removed). The event layer's own list (it
 * re-exports this one), so that what the tracker says and what the wire allows cannot differ.
 */
export const EVENT_END_REASONS = ['stream-ended', 'stopped', 'shutdown', 'error', 'disabled', 'snoozed', 'model-changed'] as const;
export type EventEndReason = (typeof EVENT_END_REASONS)[number];

/** Prefix of every schema's `$id`. */
export const SCHEMA_ID_PREFIX = 'urn:soundee:protocol:v1:';
