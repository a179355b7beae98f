/**
 * `soundee/client`: connect to a Soundee server and subscribe to predictions and events with typed
 * handlers and automatic reconnection (resuming events with `since`). It depends only on the
 * protocol module; streaming audio in (which needs the audio code) is `soundee/client/ingest`.
 *
 * ```ts
 * import { connect } from 'soundee/client';
 * import { ingestWav } from 'soundee/client/ingest';
 * const client = connect({ url: 'ws://127.0.0.1:8080', filter: { types: ['event'] } });
 * client.on('event', (e) => console.log(`${e.label} ${e.phase} at ${e.startMs} ms`));
 * await ingestWav('samples/rain.wav', { url: 'ws://127.0.0.1:8080', pace: 'realtime' });
 * ```
 */
export { connect, SoundeeClient, type ClientOptions, type LifecycleMap, type ReconnectOptions, type SubscriptionFilter } from './client.ts';
export { SoundeeClientError } from './connection.ts';
export {
  PCM_FORMATS,
  PROTOCOL_VERSION,
  RESAMPLED_RATES_HZ,
  isStatus,
  validateClientMessage,
  validateServerMessage,
  type ClientMessage,
  type DropsStatus,
  type ErrorCode,
  type ErrorMessage,
  type EventMessage,
  type HelloMessage,
  type PcmFormat,
  type PongMessage,
  type PredictionMessage,
  type ResumeReason,
  type ResumeStatus,
  type ServerMessage,
  type ServerMessageMap,
  type SpectrogramMessage,
  type StatusMessage,
  type StreamStatus,
  type SubscribableType,
} from '../protocol/index.ts';
