/**
 * `npm run bench [-- --json] [-- --quick] [-- --only features,inference,pipeline,server,replay,long-replay,training,fewshot] [-- --out FILE]`:
 * every figure of Soundee's performance on this machine, each a median over repeats with min–max, or
 * a percentile over every window/event, next to its goal. tfjs backends, PyTorch, the server under
 * test and the fan-out subscribers run in child processes; what cannot run here (tfjs-node without
 * its native library, python3 without torch) is reported as such and skipped.
 *
 * `fewshot` (bench/fewshot.ts: learning new sounds from a few recordings) runs only when named: it needs
 * `npm run data -- household data/household` and the ambient set.
 *
 * `--out FILE` also writes the JSON to FILE. `--backend NAME` runs the server and replay on that engine
 * (default auto: onnx where onnxruntime-node is installed, else wasm — what `soundee serve` picks);
 * `--threads N` sets their inference threads (default: the engine's own, as the soundee commands;
 * env SOUNDEE_THREADS and `--threads` do the same there).
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type FeatureFigures, benchFeatures } from './features.ts';
import { type ArchFigure, type InferenceFigures, benchInference, inferenceTable } from './inference.ts';
import { type ConnectFigure, benchIdleConnect } from './connections.ts';
import { type Stat, fmt, machine, table, uptime } from './lib.ts';
import { type LongReplayFigure, benchLongReplay } from './long-replay.ts';
import type { ServerStats } from './server-child.ts';
import {
  type FanoutFigure,
  type LatencyFigure,
  type MemoryFigure,
  type ReplayFigure,
  type StreamsFigure,
  benchAudio,
  benchFanout,
  fanoutLine,
  benchLatency,
  benchMemory,
  benchReplay,
  benchStreams,
  startServerChild,
} from './pipeline.ts';

const SECTIONS = ['features', 'inference', 'pipeline', 'server', 'replay', 'long-replay', 'training', 'fewshot'] as const;
/** What runs without --only (fewshot needs a dataset to be cut first). */
const DEFAULT_SECTIONS = SECTIONS.filter((s) => s !== 'fewshot');
type Section = (typeof SECTIONS)[number];

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    backend: { type: 'string', default: 'auto' },
    threads: { type: 'string', default: '0' },
    out: { type: 'string' },
  },
});
const quick = values.quick;
const only = new Set<Section>((values.only?.split(',') ?? DEFAULT_SECTIONS) as Section[]);
for (const s of only) if (!SECTIONS.includes(s)) throw new RangeError(`unknown section ${s}; expected ${SECTIONS.join(', ')}`);
const threads = Number(values.threads);
const backend = values.backend as string;
if (!(Number.isInteger(threads) && threads >= 0))
  throw new RangeError(`--threads must be an integer ≥ 1 (0 = the engine's default), got ${values.threads}`);
const log = (s: string) => {
  if (!values.json) console.log(s);
};
const progress = (s: string) => process.stderr.write(`  … ${s}\n`);

interface TrainingFigures {
  figures: { arch: string; variant: string; threads: number; batchSize: number; imagesPerSec: Stat; stepMs: Stat }[];
  uptimeBefore: string;
  uptimeAfter: string;
}

const result: {
  command: string;
  machine: ReturnType<typeof machine>;
  uptimeBefore: string;
  uptimeAfter?: string;
  quick: boolean;
  features?: FeatureFigures;
  inference?: InferenceFigures;
  pipeline?:
    | {
        backend: string;
        threads: number;
        latency: LatencyFigure;
        streams: StreamsFigure;
        /** The search's server child after its last level (after a GC): what the overloaded levels left behind. */
        afterSearch: ServerStats;
        /** In a fresh server child; `atStart`: when it is ready, before any audio. */
        memory: MemoryFigure & { atStart: ServerStats };
      }
    | { error: string };
  /** The server alone: fan-out to subscribers (limits raised by flags), and connecting with idle sockets open (default limits). */
  server?: { fanout: FanoutFigure; connect: ConnectFigure } | { error: string };
  replay?: ReplayFigure | { error: string };
  /** Replay on the other backends (the main figure is on `--backend`, default auto). */
  replayOtherBackends?: Record<string, ReplayFigure | { error: string }>;
  /** `soundee replay` of a 10-hour 48 kHz stereo file (1 hour with --quick): peak memory, first prediction, speed. */
  longReplay?: { long: LongReplayFigure; oneMinute: LongReplayFigure } | { error: string };
  training?: TrainingFigures | { error: string };
  /** bench/fewshot.ts's JSON report. */
  fewshot?: object | { error: string };
} = { command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(), machine: machine(), uptimeBefore: uptime(), quick };

const m = result.machine;
log(`soundee bench${quick ? ' (quick)' : ''} — ${m.cpu}, ${m.cores} cores, Node ${m.node}`);
log(`before: ${result.uptimeBefore}${m.load1 > 0.5 * m.cores ? '  ⚠ machine busy: figures will be low and noisy' : ''}`);

const errorOf = (e: unknown) => ({ error: e instanceof Error ? e.message : String(e) });

// ------------------------------------------------------------------ feature path
if (only.has('features')) {
  progress('feature path');
  const f = (result.features = await benchFeatures({ quick }));
  log('\nFeature path per window (median over repeats, min–max):');
  log(
    table([
      ['stage', 'µs per window'],
      [`STFT frames of one hop (${f.framesPerHop} frames, each computed once)`, fmt(f.stftUs, 'µs', 0)],
      ['dB → colormap image', fmt(f.colorUs, 'µs', 0)],
      ['sharp resize to 32×32×3, a lone window', fmt(f.resizeUs, 'µs', 0)],
      [`sharp resize, ${f.batch} windows per call (render queue under load)`, fmt(f.resizeBatchedUs, 'µs', 0)],
      ['total, streaming, a lone window (push one hop … floats)', fmt(f.totalUs, 'µs', 0)],
      [`total, streaming, ${f.batch} windows rendered together`, fmt(f.totalBatchedUs, 'µs', 0)],
      ['CPU time of the lone-window total (all threads)', fmt(f.totalCpuUs, 'µs', 0)],
      [`CPU time of the ${f.batch}-window total, per window`, fmt(f.totalBatchedCpuUs, 'µs', 0)],
    ]),
  );
}

// ------------------------------------------------------------------ inference
if (only.has('inference')) {
  progress('inference (child process per engine)');
  const r = (result.inference = await benchInference({ quick, log: progress }));
  log('\nInference per window (untrained networks, 8 classes; engines take turns, so load hits them alike):');
  log(inferenceTable(r));
}

// ------------------------------------------------------------------ pipeline through the server
if (only.has('pipeline')) {
  progress('pipeline: starting the server child (bundled model)');
  try {
    const audio = await benchAudio(quick ? 120 : 600);
    const server = await startServerChild(threads, [], ['--backend', backend]);
    let search: { latency: LatencyFigure; streams: StreamsFigure; afterSearch: ServerStats };
    try {
      progress('pipeline: end-to-end latency of one real-time stream');
      const latency = await benchLatency(server, audio, quick ? 10 : 30);
      progress('pipeline: real-time streams held (searching upward)');
      const streams = await benchStreams(server, audio, {
        seconds: quick ? 5 : 10,
        start: quick ? 16 : 8,
        limit: quick ? 256 : 1024,
        log: progress,
      });
      search = { latency, streams, afterSearch: await server.stats(true) };
    } finally {
      await server.close();
    }
    // the soak gets a child of its own: the search's overloaded levels queue seconds of audio, and once
    // it is freed glibc's allocator keeps much of it, so the soak's first figure would say how far the
    // search went rather than what an hour of audio does (docs/performance.md, bench/server-rss.ts)
    progress('pipeline: memory after an hour-equivalent of fast streaming (a fresh server child)');
    const soakServer = await startServerChild(threads, [], ['--backend', backend]);
    try {
      const atStart = await soakServer.stats(true);
      const memory = await benchMemory(soakServer, audio, { audioSeconds: quick ? 600 : 3600, log: progress });
      result.pipeline = { backend: server.backend, threads: server.threads, ...search, memory: { ...memory, atStart } };
    } finally {
      await soakServer.close();
    }
  } catch (e) {
    result.pipeline = errorOf(e);
  }
  const p = result.pipeline;
  if ('error' in p) log(`\nPipeline: could not run: ${p.error}`);
  else {
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    log(
      `\nPipeline through the real server (bundled model, ${p.backend}${p.threads > 1 ? ` ×${p.threads} threads` : ''}; load generator in this process, server in a child):`,
    );
    const lat = p.latency;
    // levels may have been tried twice: report the passing run of the level held, the last run of the one not held
    const failS = p.streams.levels.filter((l) => l.streams === p.streams.failedAt).pop();
    const heldS = p.streams.levels.find((l) => l.streams === p.streams.held && l.pass);
    log(
      table([
        ['figure', 'value'],
        [
          'end-to-end latency, one real-time stream: last sample sent → prediction at a /v1/stream subscriber',
          `p50 ${ms(lat.subscriber.p50)}, p99 ${ms(lat.subscriber.p99)} (${lat.subscriber.n} windows)`,
        ],
        ['… → prediction back on the ingest connection', `p50 ${ms(lat.ingest.p50)}, p99 ${ms(lat.ingest.p99)}`],
        [
          'real-time ingest streams held (p99 < 100 ms, no window lost)',
          `${p.streams.held}${heldS ? ` (p99 ${ms(heldS.latency.p99)})` : ''}${failS ? `; ${failS.streams} not (p99 ${ms(failS.latency.p99)}, lost ${failS.lostWindows})` : ''}`,
        ],
        [
          "… the search's server child after its last level: RSS (peak)",
          `${mib(p.afterSearch.rssBytes)}${p.afterSearch.peakRssBytes ? ` (${mib(p.afterSearch.peakRssBytes)})` : ''}, heap used ${mib(p.afterSearch.heapUsedBytes)}`,
        ],
        [
          `memory (a fresh server child), ${p.memory.windows} windows (${(p.memory.audioSeconds / 3600).toFixed(2)} h of audio) in ${p.memory.wallSeconds.toFixed(0)} s: RSS after a tenth → at the end`,
          `${mib(p.memory.before.rssBytes)} → ${mib(p.memory.after.rssBytes)}`,
        ],
        ['… RSS after each tenth', p.memory.trace.map((t) => (t.rssBytes / 2 ** 20).toFixed(0)).join(', ') + ' MiB'],
        ['… RSS of its server child when ready, before any audio', mib(p.memory.atStart.rssBytes)],
        ['… heap used', `${mib(p.memory.before.heapUsedBytes)} → ${mib(p.memory.after.heapUsedBytes)}`],
        ['… tensors (tf.memory().numTensors)', `${p.memory.before.numTensors} → ${p.memory.after.numTensors}`],
        [
          '… process listeners; active handles',
          `${p.memory.before.processListeners} → ${p.memory.after.processListeners}; ${JSON.stringify(p.memory.before.resources)} → ${JSON.stringify(p.memory.after.resources)}`,
        ],
      ]),
    );
    log(
      `streams levels: ${p.streams.levels.map((l) => `${l.streams}: p99 ${l.latency.p99.toFixed(0)} ms, ${l.serverCpuMsPerWindow.toFixed(2)} ms CPU/window, batch ${l.meanBatch.toFixed(1)}${l.lostWindows ? `, lost ${l.lostWindows}` : ''}${l.pass ? '' : ' ✗'}`).join(' | ')}`,
    );
  }
}

// ------------------------------------------------------------------ the server alone: fan-out, connections
if (only.has('server')) {
  try {
    progress('server: WebSocket fan-out (limits raised by flags)');
    const fanServer = await startServerChild(threads, [], ['--backend', backend]);
    let fanout: FanoutFigure;
    try {
      fanout = await benchFanout(fanServer, {
        levels: quick ? [250, 500, 1000, 2000, 5000] : [250, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 15000],
        events: quick ? 10 : 20,
        log: progress,
      });
    } finally {
      await fanServer.close();
    }
    progress('server: connecting with 1,000 idle sockets open (default limits)');
    const plain = await startServerChild(threads, [], ['--backend', backend], undefined, []);
    try {
      result.server = { fanout, connect: await benchIdleConnect(plain, { idle: 1000, attempts: quick ? 10 : 30 }) };
    } finally {
      await plain.close();
    }
  } catch (e) {
    result.server = errorOf(e);
  }
  const sv = result.server;
  if ('error' in sv) log(`\nServer: could not run: ${sv.error}`);
  else {
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    const f = sv.fanout;
    const failF = f.levels.filter((l) => l.subscribers === f.failedAt).pop();
    const heldF = f.levels.find((l) => l.subscribers === f.held && l.pass);
    const c = sv.connect;
    log('\nThe server alone (bundled model loaded, no audio):');
    log(
      table([
        ['figure', 'value'],
        [
          'WebSocket subscribers held (event delivery p99 < 50 ms, none missed)',
          `${f.held}${heldF ? ` (p99 ${ms(heldF.latency.p99)})` : ''}${failF ? `; ${failF.subscribers} not (p99 ${ms(failF.latency.p99)}, missed ${failF.missing})` : ''}`,
        ],
        [
          `legitimate client, connect → hello, with ${c.idle} idle sockets open (default limits)`,
          `p50 ${ms(c.underIdle.p50)}, p99 ${ms(c.underIdle.p99)} (none open: p50 ${ms(c.quiet.p50)}, p99 ${ms(c.quiet.p99)}); ${c.failed} failed; ${c.idleClosed} idle sockets closed by the server`,
        ],
      ]),
    );
    for (const l of f.levels) log(`fan-out ${fanoutLine(l)}`);
  }
}

// ------------------------------------------------------------------ replay
/** What the replays run on: the bench's --backend and --threads, as `soundee replay` takes them from the environment. */
const replayEnv: Record<string, string> = { SOUNDEE_BACKEND: backend, ...(threads > 0 ? { SOUNDEE_THREADS: String(threads) } : {}) };
if (only.has('replay')) {
  progress('replay: soundee replay --json on a long file');
  try {
    result.replay = await benchReplay(await benchAudio(quick ? 60 : 300), { repeats: quick ? 1 : 3, env: replayEnv });
  } catch (e) {
    result.replay = errorOf(e);
  }
  const r = result.replay;
  log(
    `\nReplay: ${'error' in r ? `could not run: ${r.error}` : `soundee replay --json, bundled model, ${r.audioSeconds} s file: ${fmt(r.realtimeFactor, '× real time', 1)}`}`,
  );
  // the other backends, where they load (shorter files: the cpu backend takes ≈ 0.1 s per window); auto is onnx where it loads
  result.replayOtherBackends = {};
  for (const [other, seconds] of [
    ['onnx', quick ? 60 : 300],
    ['wasm', quick ? 60 : 300],
    ['node', 60],
    ['cpu', 20],
  ] as const) {
    if (other === backend || (other === 'onnx' && backend === 'auto')) continue;
    progress(`replay on the ${other} backend`);
    try {
      result.replayOtherBackends[other] = await benchReplay(await benchAudio(seconds), { repeats: 1, env: { SOUNDEE_BACKEND: other } });
    } catch (e) {
      result.replayOtherBackends[other] = errorOf(e);
    }
    const o = result.replayOtherBackends[other]!;
    log(
      `Replay on the ${other} backend: ${'error' in o ? `not measured: ${o.error}` : `${o.audioSeconds} s file: ${fmt(o.realtimeFactor, '× real time', 1)}`}`,
    );
  }
}

// ------------------------------------------------------------------ a very long file
if (only.has('long-replay')) {
  const hours = quick ? 1 : 10;
  progress(`long replay: soundee replay of a ${hours}-hour 48 kHz stereo file`);
  try {
    result.longReplay = await benchLongReplay({ hours, log: progress, env: replayEnv });
  } catch (e) {
    result.longReplay = errorOf(e);
  }
  const lr = result.longReplay;
  if ('error' in lr) log(`\nLong replay: could not run: ${lr.error}`);
  else {
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    const row = (f: LongReplayFigure, what: string) => [
      what,
      `${(f.fileBytes / 2 ** 30).toFixed(2)} GiB`,
      mib(f.peakRssBytes),
      `${(f.firstPredictionMs / 1000).toFixed(2)} s`,
      String(f.windows),
      `${f.wallSeconds.toFixed(0)} s (${f.realtimeFactor.toFixed(1)}×)`,
    ];
    log('\nReplay of a long file (48 kHz stereo 16-bit, read, decoded and resampled as a stream; soundee replay --json, bundled model):');
    log(
      table([
        ['file', 'size', 'peak RSS', 'first prediction (from spawn)', 'windows', 'wall time (× real time)'],
        row(lr.oneMinute, '1 minute'),
        row(lr.long, `${lr.long.hours} hours`),
      ]),
    );
  }
}

// ------------------------------------------------------------------ training
if (only.has('training')) {
  progress('training (bench/training.ts in a child process)');
  const args = quick
    ? ['--rounds', '1', '--steps', '1', '--warmup', '1', '--variants', 'wasm-data-parallel']
    : ['--rounds', '2', '--steps', '2'];
  try {
    result.training = await new Promise<TrainingFigures>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          fileURLToPath(new URL('./training.ts', import.meta.url)),
          '--json',
          '--arch',
          'seed-cnn,resnet',
          '--batch',
          '64',
          ...args,
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        for (const line of d.toString().split('\n')) if (line.trim()) progress(`training: ${line.trim()}`);
      });
      child.on('close', (code) => {
        try {
          resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as TrainingFigures);
        } catch {
          reject(new Error(`bench/training.ts exited ${code}: ${err.trim().split('\n').pop() ?? ''}`));
        }
      });
    });
  } catch (e) {
    result.training = errorOf(e);
  }
  const t = result.training;
  if ('error' in t) log(`\nTraining: could not run: ${t.error}`);
  else {
    log('\nTraining images/s (bench/training.ts, batch 64):');
    log(
      table([
        ['architecture', 'variant', 'threads', 'images/s'],
        ...t.figures.map((f) => [f.arch, f.variant, String(f.threads), fmt(f.imagesPerSec, 'img/s', 1)]),
      ]),
    );
  }
}

// ------------------------------------------------------------------ few-shot learning
if (only.has('fewshot')) {
  progress('few-shot learning (bench/fewshot.ts in a child process)');
  const json = join(tmpdir(), `soundee-fewshot-${process.pid}.json`);
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./fewshot.ts', import.meta.url)),
        'data/household',
        '--out',
        json,
        '--plot',
        'fewshot-recall.png',
      ],
      { stdio: ['ignore', values.json ? 'ignore' : 'inherit', 'inherit'] },
    );
    child.on('close', resolve);
  });
  result.fewshot = code === 0 ? (JSON.parse(readFileSync(json, 'utf8')) as object) : { error: `bench/fewshot.ts exited ${code}` };
  if (code === 0) log('(recall against k: fewshot-recall.png)');
}

// ------------------------------------------------------------------ goals
result.uptimeAfter = uptime();
const goals: string[][] = [['goal', 'target', 'reached here']];
if (result.features) {
  const f = result.features;
  goals.push([
    'feature path per window',
    '≤ 500 µs',
    `${f.totalBatchedUs.median.toFixed(0)} µs batched (CPU ${f.totalBatchedCpuUs.median.toFixed(0)}), ${f.totalUs.median.toFixed(0)} µs lone (CPU ${f.totalCpuUs.median.toFixed(0)})`,
  ]);
}
if (result.inference) {
  // issue 11: the best engine of ours against the stronger PyTorch figure of the same run (on a busy machine one thread often beats two)
  const at64 = (f: ArchFigure) => f.batched.find((b) => b.batch === 64)?.imagesPerSec.median ?? 0;
  for (const arch of ['seed-cnn', 'resnet'] as const) {
    const figs = result.inference.figures.filter((f) => f.arch === arch);
    const torchFigs = figs.filter((f) => f.variant.startsWith('PyTorch'));
    const ours = figs.filter((f) => !f.variant.startsWith('PyTorch') && f.variant !== 'tfjs cpu');
    if (!ours.length) continue;
    const name = arch === 'seed-cnn' ? 'seed CNN' : 'ResNet';
    const bestOf = (fs: ArchFigure[], better: (a: ArchFigure, b: ArchFigure) => boolean) => fs.reduce((a, f) => (better(f, a) ? f : a));
    const oursB = bestOf(ours, (f, a) => at64(f) > at64(a));
    const oursL = bestOf(ours, (f, a) => f.batch1Ms.median < a.batch1Ms.median);
    const torchB = torchFigs.length ? bestOf(torchFigs, (f, a) => at64(f) > at64(a)) : undefined;
    const torchL = torchFigs.length ? bestOf(torchFigs, (f, a) => f.batch1Ms.median < a.batch1Ms.median) : undefined;
    goals.push([
      `${name} at batch 64 vs PyTorch`,
      torchB ? `≥ 2× PyTorch's best = ${(2 * at64(torchB)).toFixed(0)} img/s` : '≥ 2× PyTorch',
      `${at64(oursB).toFixed(0)} img/s (${oursB.variant})${torchB ? ` vs ${at64(torchB).toFixed(0)} (${torchB.variant}) = ${(at64(oursB) / at64(torchB)).toFixed(2)}×` : ''}`,
    ]);
    goals.push([
      `${name} batch-1 latency vs PyTorch`,
      torchL ? `≤ 0.4× PyTorch's best = ${(0.4 * torchL.batch1Ms.median).toFixed(2)} ms` : '≤ 0.4× PyTorch',
      `${oursL.batch1Ms.median.toFixed(2)} ms (${oursL.variant})${torchL ? ` vs ${torchL.batch1Ms.median.toFixed(2)} (${torchL.variant}) = ${(oursL.batch1Ms.median / torchL.batch1Ms.median).toFixed(2)}×` : ''}`,
    ]);
  }
}
if (result.pipeline && !('error' in result.pipeline)) {
  const p = result.pipeline;
  goals.push(['end-to-end p99 (last sample → subscriber)', '≤ 20 ms', `${p.latency.subscriber.p99.toFixed(1)} ms`]);
  goals.push(['real-time streams held (issue 11)', '≥ 300', `${p.streams.held} (${p.backend}${p.threads > 1 ? ` ×${p.threads}` : ''})`]);
  goals.push(['tensors after an hour of audio', 'no growth', `${p.memory.before.numTensors} → ${p.memory.after.numTensors}`]);
}
if (result.server && !('error' in result.server)) {
  goals.push(['WebSocket subscribers held (issue 11)', '≥ 10,000', String(result.server.fanout.held)]);
  const c = result.server.connect;
  goals.push([
    'a legitimate client with 1,000 idle sockets open (issue 15)',
    'gets in',
    c.failed ? `${c.failed} failed` : `in, p99 ${c.underIdle.p99.toFixed(1)} ms`,
  ]);
}
if (result.replay && !('error' in result.replay))
  goals.push(['replay speed', '≥ 100× real time', `${result.replay.realtimeFactor.median.toFixed(1)}×`]);
if (result.longReplay && !('error' in result.longReplay)) {
  const l = result.longReplay.long;
  goals.push([`peak RSS replaying ${l.hours} h of 48 kHz stereo`, '< 300 MB', `${(l.peakRssBytes / 1e6).toFixed(0)} MB`]);
  const s = result.longReplay.oneMinute;
  goals.push([
    'its first prediction (from spawn, model load included) vs a 1-minute file',
    'the same: no wait for the file',
    `${(l.firstPredictionMs / 1000).toFixed(2)} s vs ${(s.firstPredictionMs / 1000).toFixed(2)} s`,
  ]);
}
log('\nGoals:');
log(table(goals));
log(`\nafter: ${result.uptimeAfter}`);
if (values.json) console.log(JSON.stringify(result, null, 1));
if (values.out) writeFileSync(values.out, `${JSON.stringify(result, null, 1)}\n`);
