/**
 * Multi-threaded tfjs WASM backend in Node (XNNPACK threadpool on the threaded-SIMD binary).
 *
 * tfjs-backend-wasm 4.22 ships a threaded-SIMD build but never uses it in Node: the
 * `WASM_HAS_MULTITHREAD_SUPPORT` flag is hard-wired to false there (tfjs issue #3830), and forcing it
 * fails because emscripten's pthread glue starts each thread as `new Worker(blob: URL)` and tells it
 * to `importScripts` the module factory from a `Blob` — neither of which Node's worker_threads accept.
 * Even then the threadpool would get one thread: the backend uses `os.cpus().length / 2` as the core
 * count (assuming hyper-threading) and caps the pool to it.
 *
 * {@link initWasmBackend} works around all three from the outside, without touching node_modules:
 *  - the global `Worker` that the glue assigns is served by a subclass of worker_threads' Worker that
 *    runs the published worker script (`wasm-out/…threaded-simd.worker.js`) with `eval: true` when
 *    asked for a `blob:` URL, and rewrites the 'load' message to point at the published module
 *    factory file (`wasm-out/…threaded-simd.js`) instead of the Blob;
 *  - `os.cpus` reports twice the requested thread count while the backend initialises;
 *  - pool workers are unref'd so that idle threads do not keep the process alive.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Worker as NodeWorker, type WorkerOptions } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';

/** Options for {@link initWasmBackend}. */
export interface WasmBackendOptions {
  /**
   * XNNPACK threads, 1..8 (default 1). 1 loads the plain SIMD binary exactly as tfjs does; more loads
   * the threaded-SIMD binary through the worker shim described above.
   */
  threads?: number;
}

let initialisedThreads: number | null = null;

/**
 * Initialises and selects the 'wasm' backend with the given number of XNNPACK threads.
 *
 * Must run before anything else initialises the 'wasm' backend in this process (tfjs loads one
 * binary per process); calling it again with the same thread count is a no-op.
 *
 * @returns the thread count the backend reports (`tf.wasm.getThreadsCount()`).
 * @throws RangeError for a thread count outside 1..8; Error when the backend was already
 *   initialised with another thread count or does not come up with the requested threads.
 */
export async function initWasmBackend(options: WasmBackendOptions = {}): Promise<number> {
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 8) {
    throw new RangeError(`threads must be an integer in 1..8, got ${threads}`);
  }
  if (initialisedThreads !== null) {
    if (initialisedThreads !== threads) {
      throw new Error(`the wasm backend is already initialised with ${initialisedThreads} thread(s); cannot switch to ${threads}`);
    }
    await tf.setBackend('wasm');
    return initialisedThreads;
  }
  // Emscripten's Node glue installs process-wide handlers that re-throw every uncaught exception and
  // unhandled rejection; remove them so that the process's own error handling applies.
  const before = {
    uncaughtException: new Set(process.listeners('uncaughtException')),
    unhandledRejection: new Set(process.listeners('unhandledRejection')),
  };
  const dropGlueHandlers = () => {
    for (const l of process.listeners('uncaughtException')) if (!before.uncaughtException.has(l)) process.off('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection')) if (!before.unhandledRejection.has(l)) process.off('unhandledRejection', l);
  };
  if (threads === 1) {
    const ok = await tf.setBackend('wasm');
    dropGlueHandlers();
    if (!ok) throw new Error('failed to initialise the wasm backend');
  } else {
    installPthreadWorkerShim();
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    tfwasm.setThreadsCount(threads);
    const realCpus = os.cpus;
    const cpu = realCpus()[0];
    // The backend sizes its pool as min(requested, cpus / 2); report enough CPUs for `threads`.
    os.cpus = () => (cpu === undefined ? [] : Array.from({ length: 2 * threads }, () => cpu));
    try {
      if (!(await tf.setBackend('wasm'))) throw new Error('failed to initialise the threaded wasm backend');
    } finally {
      os.cpus = realCpus;
      dropGlueHandlers();
    }
  }
  const actual = tfwasm.getThreadsCount();
  if (actual !== threads) {
    throw new Error(`wasm backend came up with ${actual} thread(s), expected ${threads}; was it initialised before initWasmBackend()?`);
  }
  initialisedThreads = threads;
  return actual;
}

let shimInstalled = false;

function installPthreadWorkerShim(): void {
  if (shimInstalled) return;
  const require = createRequire(import.meta.url);
  const wasmOut = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
  const factoryPath = path.join(wasmOut, 'tfjs-backend-wasm-threaded-simd.js');
  const workerModule = require(path.join(wasmOut, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents?: unknown };
  if (typeof workerModule.wasmWorkerContents !== 'string') {
    throw new Error('unexpected tfjs-backend-wasm layout: wasm-out worker script has no wasmWorkerContents string');
  }
  // The published script is a template literal whose '\n' escapes became real newlines inside string
  // literals; tfjs re-escapes them the same way before building its Blob.
  const workerSource = workerModule.wasmWorkerContents.replace(/\n/g, '\\n');

  class PthreadWorker extends NodeWorker {
    constructor(url: string | URL, opts?: WorkerOptions) {
      // No inherited execArgv: a parent started with --input-type=module would make the worker's
      // script an ES module, where the glue's require() is missing; loaders (tsx) are not needed.
      if (typeof url === 'string' && url.startsWith('blob:')) super(workerSource, { eval: true, execArgv: [] });
      else super(url, opts);
      this.unref();
    }
    // emscripten refs a worker while it runs a pthread; XNNPACK's pool threads run forever and would
    // keep the process from exiting.
    override ref(): void {}
    override postMessage(message: unknown, transferList?: Parameters<NodeWorker['postMessage']>[1]): void {
      const m = message as { cmd?: unknown; urlOrBlob?: unknown } | null;
      if (m !== null && typeof m === 'object' && m.cmd === 'load' && typeof m.urlOrBlob !== 'string') {
        message = { ...m, urlOrBlob: factoryPath };
      }
      super.postMessage(message, transferList);
    }
  }
  // The glue does `globalThis.Worker = require('worker_threads').Worker` when the threaded factory
  // runs; an accessor keeps our subclass in place (the setter accepts and ignores the assignment).
  Object.defineProperty(globalThis, 'Worker', {
    configurable: true,
    enumerable: false,
    get: () => PthreadWorker,
    set: () => {},
  });
  shimInstalled = true;
}
