/**
 * TensorFlow.js backend selection: `auto` uses tfjs-node when it loads (a machine where its native
 * library could be installed), else WebAssembly; `cpu` (pure JS, ~100× slower) is a last resort.
 */
import * as tf from '@tensorflow/tfjs';
import { SoundeeError } from '../config.ts';

export const BACKEND_CHOICES = ['auto', 'node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
/** tfjs's own name of the backend in use. */
export type ActiveBackend = 'tensorflow' | 'wasm' | 'cpu';

let active: Promise<ActiveBackend> | undefined;
let activeChoice: BackendChoice | undefined;

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
   * XNNPACK threads of the wasm backend, 1..8 (default 1: the plain SIMD binary, as tfjs loads it).
   * More loads the threaded binary (./wasm/threads.ts). Only for processes that run inference alone
   * (listen, serve, replay, evaluate): training runs one replica per core in worker threads, which
   * must keep one XNNPACK thread each. Ignored by the node and cpu backends.
   */
  wasmThreads?: number;
}

/**
 * The XNNPACK thread count for inference-only processes (listen, serve, replay, evaluate): env
 * SOUNDEE_WASM_THREADS, default 1. More threads did not win in the benchmark on a busy 2-core
 * machine (docs/performance.md), so it is opt-in.
 * @throws SoundeeError ERR_BACKEND when the variable is not an integer in 1..8.
 */
export function inferenceThreads(): number {
  const env = process.env.SOUNDEE_WASM_THREADS;
  if (env === undefined || env === '') return 1;
  const n = Number(env);
  if (!(Number.isInteger(n) && n >= 1 && n <= 8))
    throw new SoundeeError('ERR_BACKEND', `SOUNDEE_WASM_THREADS must be an integer in 1..8, got "${env}"`);
  return n;
}

/**
 * Chooses and initialises the backend once per process; later calls return the same result.
 * @param choice 'auto' (default: env SOUNDEE_BACKEND or auto), 'node', 'wasm' or 'cpu'.
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
  const threads = options.wasmThreads ?? 1;
  if (!(Number.isInteger(threads) && threads >= 1 && threads <= 8))
    return Promise.reject(new SoundeeError('ERR_BACKEND', `wasmThreads must be an integer in 1..8, got ${threads}`));
  if (active) {
    if (activeChoice !== wanted && wanted !== 'auto')
      return active.then((a) => {
        if (a !== ({ node: 'tensorflow', wasm: 'wasm', cpu: 'cpu', auto: a } as const)[wanted])
          throw new SoundeeError('ERR_BACKEND', `backend already initialised as ${a}; cannot switch to ${wanted} in the same process`);
        return a;
      });
    return active;
  }
  activeChoice = wanted;
  active = (async (): Promise<ActiveBackend> => {
    let got: ActiveBackend;
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
    const wasmName = `wasm (WebAssembly, XNNPACK${threads > 1 ? `, ${threads} threads` : ''})`;
    log?.(
      `soundee: using the ${got === 'tensorflow' ? 'node (tfjs-node, native TensorFlow)' : got === 'wasm' ? wasmName : 'cpu (pure JavaScript, slow)'} backend`,
    );
    return got;
  })();
  return active;
}
