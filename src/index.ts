/**
 * Soundee's library API. Its face is the engine: `openEngine()` loads a model and
 * `engine.stream(pcm$, streamId, { sampleRateHz })` classifies a stream of audio at any rate into
 * predictions and sound events, encoded for the wire. Below it: the feature path, model loading and
 * inference, the streaming pipeline, the event layer, the microphone and the server.
 * The CLI (`soundee`) is built from these same pieces.
 */
export * from './config.ts';
export { Engine, openEngine, type EngineOptions, type OpenEngineOptions } from './engine/engine.ts';
export type { StreamOptions } from './engine/session.ts';
export type {
  EventOutput,
  PredictionOutput,
  StreamEndedOutput,
  StreamOutput,
  StreamStartedOutput,
  WindowOutput,
} from './engine/outputs.ts';
export { encodeEvent, encodePrediction } from './engine/wire.ts';
export {
  bufferSource,
  decodeFrames,
  decodeWav,
  encodeWav,
  readWav,
  readWavFormat,
  writeWav,
  type DecodedWav,
  type WavFormat,
} from './audio/wav.ts';
export { WavReader, loadAudio } from './audio/wav-reader.ts';
export { StreamResampler, resample } from './audio/resample.ts';
export { decodePcm, encodePcm, PcmDecoder, PCM_FORMATS, type PcmFormat } from './audio/pcm.ts';
export { Framer, frameSignal, levels, padToWindow, type WindowFrames } from './features/framer.ts';
export { colorize, RenderQueue, renderWindowImage, renderWindowImages, type RgbImage } from './features/render.ts';
export { renderClip, renderFile, type RenderedClip } from './features/clip.ts';
export { initBackend, BACKEND_CHOICES, type BackendChoice, type ActiveBackend, type BackendOptions } from './model/backend.ts';
export {
  createInferenceEngine,
  TfjsEngine,
  type EngineChoice,
  type InferenceEngine,
  type InferenceEngineOptions,
} from './model/inference.ts';
export { exportToOnnx, type OnnxExportOptions } from './model/onnx/export.ts';
export { networkFingerprint, writeOnnxModel, ONNX_FILE } from './model/onnx/model-file.ts';
export { OnnxEngine, loadOnnxRuntime, type OnnxEngineOptions } from './model/onnx/runtime.ts';
export { loadModel, saveModel, readMetadata, type ModelMetadata, type LoadedModel } from './model/io.ts';
export { BatchQueue, Classifier, toModelInput, type Classification, type ImageClassifier } from './model/classifier.ts';
export { buildModel, ARCHITECTURES, type Architecture } from './model/architectures.ts';
export { fromChunks, fromSamples, fromWavFile, fromWavReader, fromPcmBytes, type Pace } from './stream/sources.ts';
export { resampleTo } from './stream/resample.ts';
export {
  Backlog,
  classifyStream,
  classifyWindows,
  classifyWindowsOf,
  mapOrdered,
  toImages,
  toWindows,
  type ClassifiedWindow,
  type Prediction,
  type RenderedWindow,
} from './stream/operators.ts';
export {
  DEFAULT_EVENT_OPTIONS,
  EVENT_END_REASONS,
  EventTracker,
  isQuiet,
  resolveEventOptions,
  type ClassEventSettings,
  type EventEndReason,
  type EventOptions,
  type ResolvedEventOptions,
  type ScoredWindow,
  type SoundEvent,
} from './events/tracker.ts';
export { detectEvents, gatePrediction, gateQuietWindows } from './events/operators.ts';
export {
  DEFAULT_MICROPHONE,
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
} from './protocol/index.ts';
export { ALL_SCHEMAS, CLIENT_MESSAGE_SCHEMAS, SERVER_MESSAGE_SCHEMAS } from './protocol/index.ts';
