/**
 * Backend selection, once per process. Inference runs on onnxruntime-node (`onnx`, an optional
 * dependency: the network exported to ONNX, ./onnx/) or on a TensorFlow.js backend: tfjs-node
 * (`node`, where its native library could be installed), WebAssembly (`wasm`) or pure JavaScript
 * (`cpu`, ~100× slower, a last resort). `auto` takes the first that loads in that order and says
 * which. TensorFlow.js always comes up too — it loads models and trains — on the first of node, wasm,
 * cpu; training never runs on onnx.
 */
import * as tf from '@tensorflow/tfjs';
import { SoundeeError } from '../config.ts';
import { defaultOnnxThreads, loadOnnxRuntime } from './onnx/runtime.ts';

export const BACKEND_CHOICES = ['auto', 'onnx', 'node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
/** The backend in use: 'onnx', or tfjs's own name of its backend. */
export type ActiveBackend = 'onnx' | 'tensorflow' | 'wasm' | 'cpu';

/** What runs inference in this process (see {@link activeInference}). */
export interface InferenceSettings {
  engine: 'onnx' | 'tfjs';
  /** onnx: intra-op threads of each session. */
  threads: number;
  /** True when `auto` chose the engine: a model the onnx engine cannot run then falls back to tfjs. */
  fallback: boolean;
  /** Where notices go (initBackend's `log`). */
  log: ((line: string) => void) | null;
}

let active: Promise<ActiveBackend> | undefined;
let activeChoice: BackendChoice | undefined;
let inference: InferenceSettings = { engine: 'tfjs', threads: 1, fallback: false, log: null };

/**
 * The inference engine this process chose in {@link initBackend} (tfjs until then). `Classifier`
 * builds its engine from it when not told otherwise.
 */
export function activeInference(): InferenceSettings {
  return inference;
}

// PROD skips tfjs's debug checks and its "install tfjs-node" banner (we choose the backend ourselves).
tf.env().set('PROD', true);

async function tryNode(): Promise<boolean> {
  try {
    // Optional dependency: absent where its native library could not be downloaded at install time.
    await import('@tensorflow/tfjs-node' as string);
    return tf.findBackend('tensorflow') !== null || (await tf.setBackend('tensorflow'));
  } catch {
    return false;
  }
}

async function useWasm(threads: number): Promise<boolean> {
  if (threads > 1) {
    // the threaded-SIMD binary through worker_threads (./wasm/threads.ts); it removes the glue's handlers itself
    const { initWasmBackend } = await import('./wasm-threads.ts');
    return (await initWasmBackend({ threads })) === threads;
  }
  // Emscripten's Node glue installs process-wide handlers that re-throw every uncaught exception and
  // unhandled rejection (printing its minified source); remove them so the process's own handling applies.
  const before = {
    uncaughtException: new Set(process.listeners('uncaughtException')),
    unhandledRejection: new Set(process.listeners('unhandledRejection')),
  };
  await import('@tensorflow/tfjs-backend-wasm');
  const ok = await tf.setBackend('wasm');
  for (const l of process.listeners('uncaughtException')) if (!before.uncaughtException.has(l)) process.off('uncaughtException', l);
  for (const l of process.listeners('unhandledRejection')) if (!before.unhandledRejection.has(l)) process.off('unhandledRejection', l);
  return ok;
}

/** Options of {@link initBackend}. */
export interface BackendOptions {
  /**
   * Inference threads of whichever engine is chosen: onnxruntime's intra-op threads (1..64, default
   * one per core up to 4) or XNNPACK threads of the wasm backend (1..8, default 1; see `wasmThreads`).
   */
  threads?: number;
  /**
   * 'training' for processes that train: `auto` skips onnx and `onnx` is refused (training runs on
   * TensorFlow.js). Default 'inference'.
   */
  purpose?: 'inference' | 'training';
  /**
   * XNNPACK threads of the wasm backend, 1..8 (default 1: the plain SIMD binary, as tfjs loads it).
   * More loads the threaded binary (./wasm/threads.ts). Only for processes that run inference alone
   * (listen, serve, replay, evaluate): training runs one replica per core in worker threads, which
   * must keep one XNNPACK thread each. Ignored by the node and cpu backends.
   */
  wasmThreads?: number;
}

/**
 * The inference thread count asked for in the environment, for inference-only processes (listen,
 * serve, replay, evaluate): SOUNDEE_THREADS (either engine), else SOUNDEE_WASM_THREADS (the older,
 * wasm-only name); undefined when neither is set (each engine's default: see BackendOptions.threads).
 * @throws SoundeeError ERR_BACKEND when the variable is not an integer in 1..64 (1..8 for SOUNDEE_WASM_THREADS).
 */
export function inferenceThreads(): number | undefined {
  for (const [name, max] of [
    ['SOUNDEE_THREADS', 64],
    ['SOUNDEE_WASM_THREADS', 8],
  ] as const) {
    const env = process.env[name];
    if (env === undefined || env === '') continue;
    const n = Number(env);
    if (!(Number.isInteger(n) && n >= 1 && n <= max))
      throw new SoundeeError('ERR_BACKEND', `${name} must be an integer in 1..${max}, got "${env}"`);
    return n;
  }
  return undefined;
}

/**
 * Chooses and initialises the backend once per process; later calls return the same result.
 * @param choice 'auto' (default: env SOUNDEE_BACKEND or auto), 'onnx', 'node', 'wasm' or 'cpu'.
 * @param log where the one line naming the chosen backend goes (default stderr); pass null for silence.
 * @param options see {@link BackendOptions}; they apply to the first call only (the backend is per process).
 * @throws SoundeeError ERR_BACKEND when the requested backend cannot load, or for a bad thread count.
 */
export function initBackend(
  choice?: BackendChoice,
  log: ((line: string) => void) | null = (l) => process.stderr.write(`${l}\n`),
  options: BackendOptions = {},
): Promise<ActiveBackend> {
  const wanted = choice ?? ((process.env.SOUNDEE_BACKEND as BackendChoice | undefined) || 'auto');
  if (!(BACKEND_CHOICES as readonly string[]).includes(wanted))
    return Promise.reject(new SoundeeError('ERR_BACKEND', `unknown backend "${wanted}"; expected one of ${BACKEND_CHOICES.join(', ')}`));
  const training = options.purpose === 'training';
  if (training && wanted === 'onnx')
    return Promise.reject(
      new SoundeeError('ERR_BACKEND', 'training runs on TensorFlow.js, not onnx (onnx is an inference engine); use --backend wasm or auto'),
    );
  const { threads } = options;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= 64))
    return Promise.reject(new SoundeeError('ERR_BACKEND', `threads must be an integer in 1..64, got ${threads}`));
  // `threads` applies to wasm too when wasm runs inference (at most 8 there)
  const wasmThreads = options.wasmThreads ?? Math.min(8, threads ?? 1);
  if (
    !(Number.isInteger(wasmThreads) && wasmThreads >= 1 && wasmThreads <= 8) ||
    (wanted === 'wasm' && threads !== undefined && threads > 8)
  )
    return Promise.reject(
      new SoundeeError('ERR_BACKEND', `wasm threads must be an integer in 1..8, got ${options.wasmThreads ?? threads}`),
    );
  const onnxThreads = threads ?? defaultOnnxThreads();
  if (active) {
    if (activeChoice !== wanted && wanted !== 'auto')
      return active.then((a) => {
        if (a !== ({ onnx: 'onnx', node: 'tensorflow', wasm: 'wasm', cpu: 'cpu', auto: a } as const)[wanted])
          throw new SoundeeError('ERR_BACKEND', `backend already initialised as ${a}; cannot switch to ${wanted} in the same process`);
        return a;
      });
    return active;
  }
  activeChoice = wanted;
  active = (async (): Promise<ActiveBackend> => {
    let onnxVersion: string | undefined;
    let onnxMissing: string | undefined;
    if (wanted === 'onnx' || (wanted === 'auto' && !training)) {
      try {
        onnxVersion = (await loadOnnxRuntime()).version;
      } catch (e) {
        if (wanted === 'onnx')
          throw new SoundeeError('ERR_BACKEND', `backend "onnx" requested but ${(e as Error).message}. Use --backend wasm.`);
        onnxMissing = (e as Error).message;
      }
    }
    const tfjsWanted = wanted === 'onnx' || wanted === 'auto' ? 'auto' : wanted;
    // with onnx, tfjs only loads models (and trains): one XNNPACK thread
    const tfjs = await initTfjs(tfjsWanted, onnxVersion ? 1 : wasmThreads);
    const got: ActiveBackend = onnxVersion ? 'onnx' : tfjs;
    inference = { engine: onnxVersion ? 'onnx' : 'tfjs', threads: onnxThreads, fallback: wanted === 'auto', log };
    const tfjsName = {
      tensorflow: 'node (tfjs-node, native TensorFlow)',
      wasm: `wasm (WebAssembly, XNNPACK${wasmThreads > 1 && !onnxVersion ? `, ${wasmThreads} threads` : ''})`,
      cpu: 'cpu (pure JavaScript, slow)',
    }[tfjs];
    log?.(
      onnxVersion
        ? `soundee: using the onnx (onnxruntime-node ${onnxVersion}, ${onnxThreads} thread${onnxThreads === 1 ? '' : 's'}) backend`
        : `soundee: using the ${tfjsName} backend${onnxMissing && !training ? ` (onnx: ${onnxMissing})` : ''}`,
    );
    return got;
  })();
  return active;
}

/** Brings up TensorFlow.js on the chosen backend (auto: node, else wasm, else cpu); returns tfjs's name for it. */
async function initTfjs(wanted: 'auto' | 'node' | 'wasm' | 'cpu', threads: number): Promise<'tensorflow' | 'wasm' | 'cpu'> {
  let got: 'tensorflow' | 'wasm' | 'cpu';
  if (wanted === 'node') {
    if (!(await tryNode()))
      throw new SoundeeError(
        'ERR_BACKEND',
        'backend "node" requested but @tensorflow/tfjs-node does not load here (it needs its native library, downloaded at install time). Use --backend wasm.',
      );
    got = 'tensorflow';
  } else if (wanted === 'cpu') {
    await tf.setBackend('cpu');
    got = 'cpu';
  } else if (wanted === 'wasm') {
    if (!(await useWasm(threads))) throw new SoundeeError('ERR_BACKEND', 'the WebAssembly backend failed to initialise');
    got = 'wasm';
  } else if (await tryNode()) got = 'tensorflow';
  else if (await useWasm(threads)) got = 'wasm';
  else {
    await tf.setBackend('cpu');
    got = 'cpu';
  }
  await tf.ready();
  if (got === 'wasm') {
    // the backward kernels tfjs-backend-wasm lacks, so that this process can also train (a missing package is an install error, reported)
    const { registerWasmTrainingKernels } = await import('@soundee/tfjs-wasm-training');
    registerWasmTrainingKernels();
  }
  return got;
}
