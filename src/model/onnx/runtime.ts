/**
 * onnxruntime-node, the optional native inference engine: loading it (it is an optional dependency;
 * absent, everything runs on TensorFlow.js as before) and one ONNX session behind the
 * {@link InferenceEngine} interface.
 *
 * The session is driven through the package's synchronous native binding
 * (`onnxruntime-node/dist/binding.js`, "a simple synchronized inference session object wrap"), the
 * one its public `InferenceSession.run` calls from a `setImmediate`: the native run blocks the
 * JavaScript thread either way, so the promise bought nothing but a turn of the event loop and a
 * wrapper object per call, and the synchronous form lets `Classifier.classify` stay synchronous for
 * every engine. The dependency is pinned to ~1.30 for that reason; a layout this code does not know
 * is reported as "does not load" and the backend falls back.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { SoundeeError } from '../../config.ts';
import type { InferenceEngine } from '../inference-engine.ts';

/** The parts of onnxruntime-common's Tensor used here (its types are not needed to type-check: the package is optional). */
interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}
interface OrtModule {
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  env: { versions: Record<string, string | undefined> };
}
interface ValueMetadata {
  name: string;
  isTensor: boolean;
  shape: number[];
  type: number;
}
interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  readonly inputMetadata: ValueMetadata[];
  readonly outputMetadata: ValueMetadata[];
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>, options: object): Record<string, OrtTensor>;
  dispose(): void;
}
interface BindingModule {
  binding: { InferenceSession: new () => NativeSession };
  initOrt(): void;
}

/** What {@link loadOnnxRuntime} found. */
export interface OnnxRuntimeInfo {
  /** onnxruntime-node's version. */
  version: string;
}

let loaded: { ort: OrtModule; binding: BindingModule; version: string } | undefined;
let loading: Promise<OnnxRuntimeInfo> | undefined;

/**
 * Loads onnxruntime-node once per process.
 * @throws SoundeeError ERR_BACKEND, saying why (not installed, native library does not load, unknown layout).
 */
export function loadOnnxRuntime(): Promise<OnnxRuntimeInfo> {
  loading ??= (async () => {
    let ort: OrtModule;
    try {
      // a specifier tsc does not resolve: the package is optional and its types are not needed
      const mod = (await import('onnxruntime-node' as string)) as OrtModule & { default?: OrtModule };
      ort = mod.Tensor ? mod : mod.default!;
    } catch (e) {
      loading = undefined;
      const code = (e as NodeJS.ErrnoException).code;
      throw new SoundeeError(
        'ERR_BACKEND',
        code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
          ? 'onnxruntime-node is not installed (an optional dependency: ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@~1.30)'
          : `onnxruntime-node does not load here: ${(e as Error).message}`,
        { cause: e },
      );
    }
    let binding: BindingModule;
    try {
      const require = createRequire(import.meta.url);
      binding = require('onnxruntime-node/dist/binding.js') as BindingModule;
      if (typeof binding.binding?.InferenceSession !== 'function' || typeof binding.initOrt !== 'function')
        throw new Error('unexpected exports');
      binding.initOrt();
    } catch (e) {
      loading = undefined;
      throw new SoundeeError(
        'ERR_BACKEND',
        `onnxruntime-node ${ort.env?.versions?.node ?? '?'} has a layout Soundee does not know (${(e as Error).message}); Soundee supports ~1.30`,
        { cause: e },
      );
    }
    const version = ort.env?.versions?.node ?? 'unknown';
    loaded = { ort, binding, version };
    return { version };
  })();
  return loading;
}

/** True once {@link loadOnnxRuntime} has succeeded in this process. */
export function onnxRuntimeLoaded(): boolean {
  return loaded !== undefined;
}

/**
 * The intra-op thread count used when none is given: one per core the process may use, at most 4
 * (the networks here are small: past a few threads each one gets too little work per layer).
 */
export function defaultOnnxThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/** Options of an {@link OnnxEngine}. */
export interface OnnxEngineOptions {
  /** Intra-op threads, 1..64 (default {@link defaultOnnxThreads}). */
  threads?: number;
  /**
   * onnxruntime's `session.intra_op.allow_spinning` (its own default: on). Default here: on with one
   * thread, off with more. With more, idle pool threads spin between ops and batches, taking the cores
   * the feature path and I/O need (measured, bench/onnx-engine.ts: 1.2–1.9× the CPU per window with 2
   * threads on a shared 2-core machine); with one there is no pool to spin, and turning it off made
   * each small run slower (ResNet at batch 1: 0.31 vs 0.17 ms).
   */
  spinning?: boolean;
}

/**
 * An onnxruntime session over an ONNX model (bytes) whose input is `[batch, …inputShape]` float32
 * and whose output is `[batch, units]` float32: the networks ./export.ts writes.
 */
export class OnnxEngine implements InferenceEngine {
  readonly name = 'onnx';
  /** Intra-op threads of this session. */
  readonly threads: number;
  private readonly session: NativeSession;
  private readonly Tensor: OrtModule['Tensor'];
  private readonly inputName: string;
  private readonly outputName: string;
  private readonly inputShape: number[];
  private readonly inputLen: number;
  private readonly fetches: Record<string, null>;
  private disposed = false;

  /**
   * @param model the serialised ONNX model.
   * @param inputShape the input's shape without the batch dimension (e.g. [32, 32, 3]).
   * @throws SoundeeError ERR_BACKEND when onnxruntime is not loaded ({@link loadOnnxRuntime}) or a bad thread count;
   *   ERR_MODEL_INVALID when onnxruntime refuses the model or its input/output do not have the expected form.
   */
  constructor(model: Uint8Array, inputShape: readonly number[], options: OnnxEngineOptions = {}) {
    if (!loaded)
      throw new SoundeeError('ERR_BACKEND', 'onnxruntime-node is not loaded: call initBackend("onnx") or loadOnnxRuntime() first');
    const threads = options.threads ?? defaultOnnxThreads();
    if (!(Number.isInteger(threads) && threads >= 1 && threads <= 64))
      throw new SoundeeError('ERR_BACKEND', `onnx threads must be an integer in 1..64, got ${threads}`);
    this.threads = threads;
    this.Tensor = loaded.ort.Tensor;
    this.session = new loaded.binding.binding.InferenceSession();
    try {
      this.session.loadModel(model.buffer, model.byteOffset, model.byteLength, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        extra: { session: { intra_op: { allow_spinning: (options.spinning ?? threads === 1) ? '1' : '0' } } },
      });
    } catch (e) {
      throw new SoundeeError('ERR_MODEL_INVALID', `onnxruntime cannot load the ONNX model: ${(e as Error).message}`, { cause: e });
    }
    const inputs = this.session.inputMetadata;
    const outputs = this.session.outputMetadata;
    const expected = `[batch, ${inputShape.join(', ')}]`;
    const input = inputs[0];
    if (
      inputs.length !== 1 ||
      !input?.isTensor ||
      input.shape.length !== inputShape.length + 1 ||
      inputShape.some((d, i) => input.shape[i + 1] !== d)
    ) {
      this.session.dispose();
      throw new SoundeeError('ERR_MODEL_INVALID', `the ONNX model's input is not one float32 tensor of shape ${expected}`);
    }
    if (outputs.length !== 1 || !outputs[0]!.isTensor) {
      this.session.dispose();
      throw new SoundeeError('ERR_MODEL_INVALID', "the ONNX model's output is not one tensor");
    }
    this.inputName = input.name;
    this.outputName = outputs[0]!.name;
    this.fetches = { [this.outputName]: null };
    this.inputShape = [...inputShape];
    this.inputLen = inputShape.reduce((a, b) => a * b, 1);
  }

  /** onnxruntime-node's version (once loaded). */
  static get version(): string | undefined {
    return loaded?.version;
  }

  /** Runs `batch` inputs laid out back to back; the input is passed to onnxruntime as is (no copy). */
  run(input: Float32Array, batch: number): Float32Array {
    if (this.disposed) throw new Error('Cannot run: the ONNX session has been disposed');
    if (input.length !== batch * this.inputLen) throw new RangeError(`expected ${batch} × ${this.inputLen} values, got ${input.length}`);
    const out = this.session.run({ [this.inputName]: new this.Tensor('float32', input, [batch, ...this.inputShape]) }, this.fetches, {});
    const y = out[this.outputName];
    if (!(y?.data instanceof Float32Array)) throw new Error(`onnxruntime returned ${y?.type ?? 'nothing'} instead of float32`);
    return y.data;
  }

  dispose(): void {
    if (!this.disposed) this.session.dispose();
    this.disposed = true;
  }
}
