/**
 * `soundee/client`: connect to a Soundee server, subscribe to predictions and events with typed
 * handlers and automatic reconnection (resuming events with `since`), and stream audio in.
 *
 * ```ts
 * import { connect, ingestWav } from 'soundee/client';
 * const client = connect({ url: 'ws://127.0.0.1:8080', filter: { types: ['event'] } });
 * client.on('event', (e) => console.log(`${e.label} ${e.phase} at ${e.startMs} ms`));
 * await ingestWav('samples/rain.wav', { url: 'ws://127.0.0.1:8080', pace: 'realtime' });
 * ```
 */
export { connect, SoundeeClient, type ClientOptions, type LifecycleMap, type ReconnectOptions, type SubscriptionFilter } from './client.ts';
export {
  IngestConnection,
  ingestPcm,
  ingestSamples,
  ingestWav,
  type IngestConnectOptions,
  type IngestHandlers,
  type IngestPace,
  type IngestPcmOptions,
  type IngestSamplesOptions,
  type IngestSummary,
} from './ingest.ts';
export { SoundeeClientError } from './connection.ts';
export {
  PROTOCOL_VERSION,
  RESAMPLED_RATES_HZ,
  validateClientMessage,
  validateServerMessage,
  type ClientMessage,
  type DropsStatus,
  type ErrorCode,
  type ErrorMessage,
  type EventMessage,
  type HelloMessage,
  type PongMessage,
  type PredictionMessage,
  type ResumeStatus,
  type ServerMessage,
  type ServerMessageMap,
  type SpectrogramMessage,
  type StatusMessage,
  type StreamStatus,
  type SubscribableType,
} from '../protocol/index.ts';
