/**
 * What runs a network: the interface both inference engines implement (./inference.ts builds them:
 * TensorFlow.js, and onnxruntime in ./onnx/runtime.ts). A leaf, so that the engines and the backend
 * selection can name it without importing each other.
 */

/** Runs a network on a batch. */
export interface InferenceEngine {
  /** 'onnx' or 'tfjs-<backend>' (for logs and status). */
  readonly name: string;
  /**
   * Runs the network on `batch` inputs laid out back to back (each height·width·channels floats,
   * HWC) and returns `batch` × outputs values. Synchronous: both engines compute on the calling
   * thread (onnxruntime spreads each op over its intra-op threads meanwhile).
   * The caller keeps `input`; engines do not hold on to it after returning.
   */
  run(input: Float32Array, batch: number): Float32Array;
  /** Releases the engine's memory; `run` throws afterwards. */
  dispose(): void;
}
