/**
 * The pipeline benchmark's server child (bench/server-child.ts) and its resident memory, stage by
 * stage: when it is ready; after one level of real-time ingest streams (as the streams search of
 * bench/pipeline.ts runs them); after the memory soak's warm-up (4 streams × 90 s as fast as the
 * server takes them: where benchMemory takes its first figure); and, with --trim, after glibc's
 * malloc_trim(0) is called in the child through gdb, which hands back to the system what the
 * allocator holds free. Every configuration (engine × model × stream level) gets a fresh child, in
 * turn, `--repeats` times; the table gives medians (min–max). Figures after a GC, in MiB: VmRSS, VmHWM
 * (peak), RssFile (libraries mapped), smaps_rollup's Anonymous, V8's heap used and committed, external
 * (ArrayBuffers and native memory V8 knows of), tensors, threads, windows lost in the level.
 *
 * `npx tsx bench/server-rss.ts [--backends onnx,wasm] [--models DIR,DIR] [--streams 0,256,512] [--seconds 10] [--warmup] [--trim] [--repeats 3]`
 * (--trim needs gdb: `apt-get install gdb`; Linux only, as it reads /proc).
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { DEFAULT_MODEL_DIR } from '../src/paths.ts';
import { procKbBytes, stat, uptime } from './lib.ts';
import { type ServerHandle, benchAudio, runIngest, soakWarmUp, startServerChild } from './pipeline.ts';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'onnx,wasm' },
    models: { type: 'string', default: DEFAULT_MODEL_DIR },
    streams: { type: 'string', default: '0' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'boolean', default: false },
    trim: { type: 'boolean', default: false },
    repeats: { type: 'string', default: '3' },
  },
});

const MiB = 2 ** 20;
const COLUMNS = ['rss', 'hwm', 'file', 'anon', 'heap', 'heapTotal', 'external', 'tensors', 'threads', 'lost'] as const;
type Figures = Partial<Record<(typeof COLUMNS)[number], number>>;

/** VmRSS, VmHWM, RssFile, threads from /proc/PID/status; anonymous memory from smaps_rollup. */
async function proc(pid: number): Promise<Figures> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (text: string, key: string) => procKbBytes(text, key) / MiB;
  return {
    rss: kb(status, 'VmRSS'),
    hwm: kb(status, 'VmHWM'),
    file: kb(status, 'RssFile'),
    anon: kb(rollup, 'Anonymous'),
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN),
  };
}

async function snapshot(server: ServerHandle): Promise<Figures> {
  const s = await server.stats(true);
  return {
    ...(await proc(server.pid)),
    heap: s.heapUsedBytes / MiB,
    heapTotal: s.heapTotalBytes / MiB,
    external: s.externalBytes / MiB,
    tensors: s.numTensors,
  };
}

/** glibc's malloc_trim(0) in process `pid`, through gdb. */
function mallocTrim(pid: number): void {
  try {
    execFileSync('gdb', ['-p', String(pid), '-batch', '-ex', 'call (int)malloc_trim(0)'], { stdio: 'ignore' });
  } catch (e) {
    throw new Error(`--trim: gdb could not call malloc_trim in the child (${(e as Error).message}); install gdb or leave out --trim`);
  }
}

const audio = await benchAudio(600);
const seconds = Number(values.seconds);
const results = new Map<string, Figures[]>();
const add = (k: string, v: Figures) => results.set(k, [...(results.get(k) ?? []), v]);
console.log(`before: ${uptime()}`);
for (let r = 0; r < Number(values.repeats); r++) {
  for (const model of values.models.split(',')) {
    for (const backend of values.backends.split(',')) {
      for (const streams of values.streams.split(',').map(Number)) {
        const name = `${backend}, ${model === DEFAULT_MODEL_DIR ? 'bundled model' : model}, ${streams ? `${streams} streams` : 'no streams level'}`;
        const server = await startServerChild(0, [], ['--backend', backend, '--model', model]);
        try {
          add(`${name}: ready`, await snapshot(server));
          if (streams > 0) {
            const run = await runIngest(server.url, streams, audio, { seconds, realtime: true });
            add(`${name}: after ${streams} real-time streams × ${seconds} s`, { ...(await snapshot(server)), lost: run.lostWindows });
          }
          if (values.warmup) {
            await soakWarmUp(server, audio);
            add(`${name}: after the soak's warm-up (4 × 90 s, fast)`, await snapshot(server));
          }
          if (values.trim) {
            mallocTrim(server.pid);
            add(`${name}: then malloc_trim(0)`, await snapshot(server));
          }
        } finally {
          await server.close();
        }
      }
    }
  }
}
console.log(`\nMiB after a GC, median over ${values.repeats} children (min–max)`);
console.log(`stage | ${COLUMNS.join(' | ')}`);
for (const [k, runs] of results) {
  const cells = COLUMNS.map((c) => {
    const s = stat(runs.map((x) => x[c] ?? 0));
    return s.min === s.max ? s.median.toFixed(0) : `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
  });
  console.log(`${k} | ${cells.join(' | ')}`);
}
console.log(`\nafter: ${uptime()}`);
