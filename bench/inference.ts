/**
 * Inference per window, every engine side by side: onnxruntime-node (the network exported by
 * src/model/onnx/, one intra-op thread per core and one), tfjs on each backend that loads (node,
 * wasm with one XNNPACK thread, wasm with one per core, cpu), and PyTorch when python3 has torch
 * (bench/torch_inference.py). Each variant runs in its own child process (tfjs picks one backend
 * per process); the parent hands out the work in rounds (every variant times a few passes of the
 * same architecture and batch in turn), so that a change in machine load hits all of them alike.
 *
 * `tsx bench/inference.ts [--quick] [--json]` prints the table (or JSON).
 */
import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { type Architecture, buildModel } from '../src/model/architectures.ts';
import { type BackendChoice, initBackend } from '../src/model/backend.ts';
import { foldForInference } from '../src/model/fold.ts';
import { exportToOnnx } from '../src/model/onnx/export.ts';
import { OnnxEngine } from '../src/model/onnx/runtime.ts';
import { type Stat, fmt, nextReply, stat, table } from './lib.ts';

/** One engine: onnxruntime, a tfjs backend (with its XNNPACK thread count) or PyTorch. */
export interface InferenceVariant {
  /** 'onnx' (onnxruntime-node), 'node' | 'wasm' | 'cpu' (tfjs backends) or 'pytorch'. */
  engine: 'onnx' | 'node' | 'wasm' | 'cpu' | 'pytorch';
  /** Threads (onnx: intra-op threads; wasm: XNNPACK threads; pytorch: torch.set_num_threads). */
  threads: number;
}

export const variantName = (v: InferenceVariant): string =>
  v.engine === 'cpu' || v.engine === 'node'
    ? `tfjs ${v.engine}`
    : v.engine === 'wasm'
      ? `tfjs wasm ×${v.threads}`
      : v.engine === 'onnx'
        ? `onnx ×${v.threads}`
        : `PyTorch ×${v.threads}`;

/** What one variant achieved on one architecture. */
export interface ArchFigure {
  variant: string;
  arch: BenchArch;
  /** Latency of a batch of one, ms. */
  batch1Ms: Stat;
  /** Windows per second per batch size (batch 1 included). */
  batched: { batch: number; imagesPerSec: Stat }[];
  /** The batch size with the highest median throughput. */
  best: { batch: number; imagesPerSec: Stat };
}

export interface InferenceFigures {
  figures: ArchFigure[];
  /** Variants that could not run here, with the reason. */
  unavailable: { variant: string; reason: string }[];
  /** PyTorch version when it ran, and the BLAS library it loaded. */
  torch?: string;
  torchBlas?: string;
  /** onnxruntime-node version when it ran. */
  onnxruntime?: string;
}

type Request = { arch: BenchArch; batch: number; iters: number; warmup: number };
type Reply =
  | { ready: true; torch?: string; blas?: string; threads?: number; onnxruntime?: string }
  | { times: number[] }
  | { error: string };

/** A running variant that answers timing requests. */
interface Engine {
  variant: InferenceVariant;
  run(r: Request): Promise<number[]>;
  close(): void;
  /** PyTorch: its version and BLAS; onnx: onnxruntime's version. */
  info?: { version?: string; blas?: string };
}

/**
 * What is timed: each architecture as Classifier runs it (folded for inference, src/model/fold.ts),
 * and the ResNet also as built (batch norm and ReLU as separate layers) to show what folding buys.
 */
const ARCHS = ['seed-cnn', 'resnet', 'resnet-unfolded'] as const;
type BenchArch = (typeof ARCHS)[number];

/** Finds a python3 that imports torch (PATH first, then Debian's /usr/bin/python3). */
export function findTorchPython(): { python: string; version: string } | { reason: string } {
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { python, version: r.stdout.trim() };
  }
  return { reason: 'no python3 with torch here (apt-get install python3-torch); PyTorch column skipped' };
}

/** Starts PyTorch: one JSON request per line on stdin, one reply per line on stdout. */
async function startTorch(python: string, threads: number): Promise<Engine> {
  const child = spawn(python, [fileURLToPath(new URL('./torch_inference.py', import.meta.url)), '--threads', String(threads)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Reply> => {
    const { value, done } = await lines.next();
    if (done) throw new Error('the PyTorch process exited');
    return JSON.parse(value as string) as Reply;
  };
  const hello = await next();
  return {
    variant: { engine: 'pytorch', threads },
    info: 'ready' in hello ? { version: hello.torch, blas: hello.blas } : {},
    async run(r) {
      child.stdin!.write(`${JSON.stringify(r)}\n`);
      const reply = await next();
      if (!('times' in reply)) throw new Error(`PyTorch: ${JSON.stringify(reply)}`);
      return reply.times;
    },
    close: () => child.kill(),
  };
}

/** Starts a tfjs child process on one backend; rejects with the reason when the backend does not load. */
async function startTfjs(variant: InferenceVariant): Promise<Engine> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--child', variant.engine, String(variant.threads)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const next = () =>
    nextReply<Reply>(child, (code) => `${variantName(variant)} exited (code ${code}) ${stderr.trim().split('\n').pop() ?? ''}`);
  let hello: Reply;
  try {
    hello = await next();
  } catch (e) {
    child.kill();
    throw e;
  }
  return {
    variant,
    info: 'ready' in hello ? { version: hello.onnxruntime } : {},
    async run(r) {
      const reply = next();
      child.send(r);
      const got = await reply;
      if (!('times' in got)) throw new Error('unexpected reply');
      return got.times;
    },
    close: () => child.kill(),
  };
}

/** The child side: one backend, the architectures built once, timing on request. */
async function childMain(engine: BackendChoice, threads: number): Promise<void> {
  const send = (m: Reply) => process.send?.(m);
  try {
    const active = await initBackend(engine, null, engine === 'wasm' ? { wasmThreads: threads } : engine === 'onnx' ? { threads } : {});
    if (engine !== 'auto' && active !== ({ onnx: 'onnx', node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' } as Record<string, string>)[engine])
      throw new Error(`got ${active}`);
    /** Runs one forward pass of a batch, output copied out. */
    const runners = new Map<BenchArch, (batch: number) => void>();
    for (const a of ARCHS) {
      const built = buildModel(a === 'resnet-unfolded' ? 'resnet' : (a as Architecture), { numClasses: 8, seed: 1 });
      if (engine === 'onnx') {
        if (a === 'resnet-unfolded') continue; // onnxruntime fuses batch norm itself; the row is about tfjs
        const session = new OnnxEngine(exportToOnnx(built), [32, 32, 3], { threads });
        const inputs = new Map<number, Float32Array>();
        runners.set(a, (batch) => {
          let x = inputs.get(batch);
          if (!x) inputs.set(batch, (x = tf.randomUniform([batch, 32, 32, 3], 0, 1, 'float32', 7).dataSync() as Float32Array));
          session.run(x, batch);
        });
        continue;
      }
      const model = a === 'resnet-unfolded' ? built : foldForInference(built);
      const inputs = new Map<number, tf.Tensor>();
      runners.set(a, (batch) => {
        let x = inputs.get(batch);
        if (!x) inputs.set(batch, (x = tf.randomUniform([batch, 32, 32, 3], 0, 1, 'float32', 7)));
        tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
      });
    }
    process.on('message', (m: Request) => {
      try {
        const run = runners.get(m.arch);
        if (!run) throw new Error(`${m.arch} is not timed on ${engine}`);
        const times: number[] = [];
        for (let i = 0; i < m.warmup + m.iters; i++) {
          const t = performance.now();
          run(m.batch);
          if (i >= m.warmup) times.push(performance.now() - t);
        }
        send({ times });
      } catch (e) {
        send({ error: String(e) });
      }
    });
    process.on('disconnect', () => process.exit(0));
    send({ ready: true, ...(OnnxEngine.version && engine === 'onnx' ? { onnxruntime: OnnxEngine.version } : {}) });
  } catch (e) {
    send({ error: e instanceof Error ? e.message : String(e) });
    process.exit(1);
  }
}

export interface BenchInferenceOptions {
  /** Fewer batch sizes and rounds. */
  quick?: boolean;
  /** Variants to try (default: onnx ×cores and ×1, node, wasm ×1, wasm ×cores, cpu, PyTorch ×cores and ×1). */
  variants?: InferenceVariant[];
  /** Batch sizes (default 1, 8, 32, 64, 128; quick 1, 64). */
  batches?: number[];
  /** Rounds of turns (default 4; quick 2). */
  rounds?: number;
  log?: (line: string) => void;
}

/** Runs every variant that starts on every architecture and batch size, in rounds. */
export async function benchInference(o: BenchInferenceOptions = {}): Promise<InferenceFigures> {
  const cores = Math.min(8, availableParallelism());
  const variants = o.variants ?? [
    { engine: 'onnx', threads: cores },
    ...(cores > 1 ? [{ engine: 'onnx', threads: 1 } as const] : []),
    { engine: 'node', threads: 1 },
    { engine: 'wasm', threads: 1 },
    { engine: 'wasm', threads: cores },
    { engine: 'cpu', threads: 1 },
    { engine: 'pytorch', threads: cores },
    // one thread: on a busy machine, PyTorch's thread pool waits on a descheduled peer at every op
    ...(cores > 1 ? [{ engine: 'pytorch', threads: 1 } as const] : []),
  ];
  const batches = o.batches ?? (o.quick ? [1, 64] : [1, 8, 32, 64, 128]);
  const rounds = o.rounds ?? (o.quick ? 2 : 4);
  const log = o.log ?? (() => {});
  const engines: Engine[] = [];
  const unavailable: InferenceFigures['unavailable'] = [];
  const versions: Pick<InferenceFigures, 'torch' | 'torchBlas' | 'onnxruntime'> = {};
  for (const v of variants) {
    try {
      if (v.engine === 'pytorch') {
        const found = findTorchPython();
        if ('reason' in found) throw new Error(found.reason);
        const e = await startTorch(found.python, v.threads);
        versions.torch = e.info?.version;
        versions.torchBlas = e.info?.blas;
        engines.push(e);
      } else {
        const e = await startTfjs(v);
        if (e.info?.version) versions.onnxruntime = e.info.version;
        engines.push(e);
      }
      log(`inference: ${variantName(v)} ready`);
    } catch (e) {
      unavailable.push({ variant: variantName(v), reason: (e as Error).message });
    }
  }
  const figures: ArchFigure[] = [];
  try {
    for (const arch of ARCHS) {
      const times = new Map<string, number[]>();
      for (let round = 0; round < rounds; round++) {
        for (const batch of batches) {
          for (const e of engines) {
            if ((e.variant.engine === 'pytorch' || e.variant.engine === 'onnx') && arch === 'resnet-unfolded') continue;
            // the pure-JS backend takes seconds per big batch: one pass of a few sizes, no repeats
            const slow = e.variant.engine === 'cpu';
            if (slow && (round > 0 || batch > 16)) continue;
            const iters = slow ? (batch === 1 ? 3 : 1) : Math.max(1, Math.round((arch === 'seed-cnn' ? 24 : 96) / batch));
            const got = await e.run({ arch, batch, iters, warmup: round === 0 ? 2 : 1 });
            const key = `${variantName(e.variant)}|${batch}`;
            times.set(key, [...(times.get(key) ?? []), ...got]);
          }
        }
        log(`inference: ${arch} round ${round + 1}/${rounds}`);
      }
      for (const e of engines) {
        const name = variantName(e.variant);
        const batched = batches
          .filter((b) => times.has(`${name}|${b}`))
          .map((batch) => ({ batch, imagesPerSec: stat(times.get(`${name}|${batch}`)!.map((ms) => (1000 * batch) / ms)) }));
        const b1 = times.get(`${name}|1`);
        if (!b1 || batched.length === 0) continue;
        const best = batched.reduce((a, x) => (x.imagesPerSec.median > a.imagesPerSec.median ? x : a));
        figures.push({ variant: name, arch, batch1Ms: stat(b1), batched, best });
      }
    }
  } finally {
    for (const e of engines) e.close();
  }
  return { figures, unavailable, ...versions };
}

/** The inference table: one row per architecture and engine. */
export function inferenceTable(r: InferenceFigures): string {
  const rows = [['architecture', 'engine', 'batch 1 latency', 'batch 64', 'best batch']];
  for (const f of r.figures) {
    const b64 = f.batched.find((b) => b.batch === 64);
    rows.push([
      f.arch,
      f.variant,
      fmt(f.batch1Ms, 'ms'),
      b64 ? fmt(b64.imagesPerSec, 'img/s', 0) : '',
      `${f.best.batch}: ${fmt(f.best.imagesPerSec, 'img/s', 0)}`,
    ]);
  }
  const versions = [
    r.onnxruntime ? `onnxruntime-node ${r.onnxruntime}` : '',
    r.torch ? `PyTorch ${r.torch} (BLAS: ${r.torchBlas ?? 'unknown'})` : '',
  ].filter(Boolean);
  return [
    table(rows),
    ...(versions.length ? [versions.join('; ')] : []),
    ...r.unavailable.map((u) => `${u.variant}: not measured: ${u.reason}`),
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const child = process.argv.indexOf('--child');
  if (child >= 0) {
    await childMain(process.argv[child + 1] as BackendChoice, Number(process.argv[child + 2]));
  } else {
    const r = await benchInference({ quick: process.argv.includes('--quick'), log: (l) => console.error(l) });
    console.log(process.argv.includes('--json') ? JSON.stringify(r) : inferenceTable(r));
  }
}
