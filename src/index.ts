/**
 * Soundee's library API: the feature path, model loading and inference, the streaming pipeline, the
 * event layer, the microphone and the server.
 * The CLI (`soundee`) is built from these same pieces.
 */
export * from './config.ts';
export { decodeWav, encodeWav, loadAudio, readWav, writeWav, type DecodedWav } from './audio/wav.ts';
export { decodePcm, encodePcm, PcmDecoder, PCM_FORMATS, type PcmFormat } from './audio/pcm.ts';
export { Framer, frameSignal, type WindowFrames } from './features/framer.ts';
export { colorize, renderFeatures, renderWindowImage, type RgbImage } from './features/render.ts';
export { initBackend, BACKEND_CHOICES, type BackendChoice, type ActiveBackend, type BackendOptions } from './model/backend.ts';
export { createInferenceEngine, TfjsEngine, type EngineChoice, type InferenceEngine } from './model/inference.ts';
export { exportToOnnx, type OnnxExportOptions } from './model/onnx/export.ts';
export { networkFingerprint, writeOnnxModel, ONNX_FILE } from './model/onnx/model-file.ts';
export { OnnxEngine, loadOnnxRuntime, type OnnxEngineOptions } from './model/onnx/runtime.ts';
export { loadModel, saveModel, readMetadata, type ModelMetadata, type LoadedModel } from './model/io.ts';
export { BatchQueue, Classifier, type Classification } from './model/classifier.ts';
export { buildModel, ARCHITECTURES, type Architecture } from './model/architectures.ts';
export { fromSamples, fromWavFile, fromPcmBytes, type Pace } from './stream/sources.ts';
export {
  Backlog,
  classifyStream,
  classifyWindows,
  mapOrdered,
  toModelInputs,
  toWindows,
  type Prediction,
  type RenderedWindow,
} from './stream/operators.ts';
export {
  DEFAULT_EVENT_OPTIONS,
  EventTracker,
  isQuiet,
  resolveEventOptions,
  type ClassEventSettings,
  type EventOptions,
  type ResolvedEventOptions,
  type ScoredWindow,
  type SoundEvent,
} from './events/tracker.ts';
export { detectEvents, gatePrediction, gateQuietWindows } from './events/operators.ts';
export {
  RECORDERS,
  RecorderError,
  findRecorder,
  liveMicrophone,
  recordPcm,
  type MicStatus,
  type MicStatusKind,
  type MicrophoneOptions,
  type RecorderErrorCode,
  type RecorderName,
  type RecorderOptions,
} from './audio/recorder.ts';
export {
  startServer,
  PROTOCOL_VERSION,
  type HelloInfo,
  type IngestOptions,
  type ServerOptions,
  type SoundeeServer,
} from './server/server.ts';
export {
  ERROR_CODES,
  INGEST_PATH,
  RESAMPLED_RATES_HZ,
  STREAM_PATH,
  validateClientMessage,
  validateServerMessage,
  type ClientMessage,
  type ErrorCode,
  type EventInput,
  type EventMessage,
  type HelloMessage,
  type PredictionMessage,
  type ServerMessage,
  type StatusMessage,
} from './server/protocol.ts';
export { ALL_SCHEMAS, CLIENT_MESSAGE_SCHEMAS, SERVER_MESSAGE_SCHEMAS } from './server/schemas.ts';
