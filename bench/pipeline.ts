/**
 * Pipeline figures through the real server (bench/server-child.ts, the bundled model, in its own
 * process): end-to-end latency of real-time ingest streams, the most real-time streams held, the
 * most subscribers an event reaches in time, memory after an hour of audio, and `soundee replay`'s
 * speed. The load generator (ingest senders, one subscriber) runs here; the fan-out subscribers run
 * in a child process of their own (bench/fanout-client.ts).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readdir, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { encodePcm } from '../src/audio/pcm.ts';
import { encodeWav } from '../src/audio/wav.ts';
import { loadAudio } from '../src/audio/wav-reader.ts';
import { SAMPLES_DIR } from '../src/paths.ts';
import { type Stat, quantile, sleep, stat } from './lib.ts';
import type { ServerRequest, ServerStats } from './server-child.ts';
import type { FanoutRequest } from './fanout-client.ts';

const RATE = 16000;
const WINDOW = 16000;
const HOP = 4000;

/** The bundled samples end to end, repeated to `seconds`. */
export async function benchAudio(seconds: number): Promise<Float32Array> {
  const files = (await readdir(SAMPLES_DIR)).filter((f) => f.endsWith('.wav')).sort();
  const parts = await Promise.all(files.map((f) => loadAudio(join(SAMPLES_DIR, f), RATE)));
  const out = new Float32Array(Math.round(seconds * RATE));
  for (let o = 0, k = 0; o < out.length; k++) {
    const p = parts[k % parts.length]!;
    out.set(p.subarray(0, Math.min(p.length, out.length - o)), o);
    o += p.length;
  }
  return out;
}

// ------------------------------------------------------------------ the server child

/** A running server child. */
export interface ServerHandle {
  url: string;
  /** The child's process id (for /proc/PID/status and smaps_rollup). */
  pid: number;
  backend: string;
  threads: number;
  stats(gc?: boolean): Promise<ServerStats>;
  /**
   * Publishes `count` events at `rate`/s; resolves when the last is out, with how long each
   * publishEvent call took in ms (undefined from a server child that does not report it).
   */
  events(count: number, rate: number): Promise<number[] | undefined>;
  close(): Promise<void>;
}

/**
 * The limits of the server under test, raised by the same flags a user would give `soundee serve`,
 * so that the benchmark finds the machine's limit rather than the configured one.
 */
export const BENCH_LIMIT_FLAGS = [
  '--max-connections',
  '30000',
  '--max-connections-per-address',
  '30000',
  '--max-subscribers',
  '30000',
  '--max-subscribers-per-address',
  '30000',
  '--max-streams',
  '4096',
  '--max-streams-per-address',
  '4096',
];

/**
 * Starts bench/server-child.ts (the bundled model on the engine `--backend` in `args` names, default
 * auto; `threads` inference threads, 0 = the engine's default; BENCH_LIMIT_FLAGS; `execArgv`: extra
 * node flags, e.g. --cpu-prof; `args`: extra arguments of the child, e.g. ['--backend', 'wasm'];
 * `file`: another checkout's server child, to compare code side by side; `limitFlags`: [] for the
 * defaults).
 */
export async function startServerChild(
  threads = 0,
  execArgv: string[] = [],
  args: string[] = [],
  file = fileURLToPath(new URL('./server-child.ts', import.meta.url)),
  limitFlags: readonly string[] = BENCH_LIMIT_FLAGS,
): Promise<ServerHandle> {
  const threadFlags = threads > 0 ? ['--threads', String(threads)] : [];
  const child: ChildProcess = fork(file, [...threadFlags, ...limitFlags, ...args], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...execArgv],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const next = <T>() =>
    new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null) =>
        reject(new Error(`server child exited (code ${code}): ${stderr.trim().split('\n').pop() ?? ''}`));
      child.once('exit', onExit);
      child.once('message', (m) => {
        child.off('exit', onExit);
        if (m && typeof m === 'object' && 'error' in m) reject(new Error(String((m as { error: unknown }).error)));
        else resolve(m as T);
      });
    });
  const ask = <T>(req: ServerRequest) => {
    const p = next<T>();
    child.send(req);
    return p;
  };
  const ready = await next<{ port: number; backend: string; threads: number }>();
  return {
    url: `ws://127.0.0.1:${ready.port}`,
    pid: child.pid!,
    backend: ready.backend,
    threads: ready.threads,
    stats: async (gc = false) => (await ask<{ stats: ServerStats }>({ cmd: 'stats', gc })).stats,
    events: async (count, rate) => (await ask<{ publishMs?: number[] }>({ cmd: 'events', count, rate })).publishMs,
    close: async () => {
      const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
      child.send({ cmd: 'close' } satisfies ServerRequest);
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

// ------------------------------------------------------------------ ingest load

/** What happened to the ingest streams of one run. */
export interface IngestRun {
  streams: number;
  /** From the last sample of a window being sent to its prediction arriving, every window of every stream, ms. */
  latenciesMs: number[];
  /** The same, at a /v1/stream subscriber (when one was asked for). */
  subscriberLatenciesMs: number[];
  windowsExpected: number;
  windowsReceived: number;
  /** Windows missing or reported dropped, and streams that failed (error, early close, no `ended`). */
  lostWindows: number;
  failedStreams: number;
  errors: string[];
  /** Audio seconds sent per stream and wall-clock seconds the run took. */
  audioSeconds: number;
  wallSeconds: number;
}

interface IngestOptions {
  /** Audio per stream, s. */
  seconds: number;
  /** Real-time pacing (frames sent when they would have been recorded), else as fast as the server takes them. */
  realtime: boolean;
  /** Frame length in real time, ms (default 50). */
  frameMillis?: number;
  /** Also subscribe on /v1/stream to stream 0's predictions. */
  subscribe?: boolean;
  /** Spread the streams' starts over one hop (default true in real time), so their windows do not all fall due at once. */
  stagger?: boolean;
}

const opened = (ws: WebSocket) => new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));

/** Opens `n` ingest streams on the server, sends `o.seconds` of audio on each, and measures. */
export async function runIngest(url: string, n: number, audio: Float32Array, o: IngestOptions): Promise<IngestRun> {
  const frameMillis = o.frameMillis ?? 50;
  const frameSamples = (RATE * frameMillis) / 1000;
  const samples = Math.round(o.seconds * RATE);
  const frames = Math.ceil(samples / frameSamples);
  const expected = samples >= WINDOW ? Math.floor((samples - WINDOW) / HOP) + 1 : 0;
  const latencies: number[] = [];
  const subLatencies: number[] = [];
  const errors: string[] = [];
  let lost = 0;
  let failed = 0;
  let received = 0;
  const t0 = performance.now();

  // the frame that carries window i's last sample
  const lastFrame = (i: number) => Math.floor((WINDOW + i * HOP - 1) / frameSamples);
  type S = {
    ws: WebSocket;
    bytes: Uint8Array;
    sentAt: Float64Array;
    next: number;
    start: number;
    got: Set<number>;
    dropped: number;
    ended: number | null;
    closed: Promise<number>;
  };
  const streams: S[] = [];
  let sub: WebSocket | undefined;
  const subSentAt = (i: number) => streams[0]?.sentAt[lastFrame(i)] ?? NaN;
  if (o.subscribe) {
    sub = new WebSocket(`${url}/v1/stream?types=prediction&streams=s0`, { perMessageDeflate: false });
    sub.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; index?: number };
      if (m.type === 'prediction') subLatencies.push(performance.now() - subSentAt(m.index!));
    });
    sub.on('error', (e) => errors.push(`subscriber: ${e.message}`));
    await opened(sub);
  }
  // open the streams (50 handshakes at a time)
  for (let k = 0; k < n; k += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - k) }, async (_, j) => {
        const id = k + j;
        const ws = new WebSocket(`${url}/v1/ingest?streamId=s${id}&sampleRateHz=${RATE}&format=s16le`, { perMessageDeflate: false });
        const off = (id * 7919 * 16) % Math.max(1, audio.length - samples);
        const s: S = {
          ws,
          bytes: encodePcm(audio.subarray(off, off + samples), 's16le'),
          sentAt: new Float64Array(frames),
          next: 0,
          start: 0,
          got: new Set(),
          dropped: 0,
          ended: null,
          closed: new Promise<number>((r) => ws.on('close', (code) => r(code))),
        };
        const started = new Promise<void>((resolve, reject) => {
          ws.on('message', (d) => {
            const m = JSON.parse(d.toString()) as {
              type: string;
              index?: number;
              kind?: string;
              state?: string;
              windows?: number;
              total?: number;
              code?: string;
              message?: string;
            };
            if (m.type === 'prediction') {
              const i = m.index!;
              if (!s.got.has(i)) {
                s.got.add(i);
                received++;
                latencies.push(performance.now() - s.sentAt[lastFrame(i)]!);
              }
            } else if (m.type === 'status' && m.kind === 'stream' && m.state === 'started') resolve();
            else if (m.type === 'status' && m.kind === 'stream' && m.state === 'ended') s.ended = m.windows ?? 0;
            else if (m.type === 'status' && m.kind === 'drops') s.dropped = m.total ?? 0;
            else if (m.type === 'error') {
              errors.push(`s${id}: ${m.code} ${m.message}`);
              reject(new Error(m.code));
            }
          });
          ws.on('error', (e) => {
            errors.push(`s${id}: ${e.message}`);
            reject(e);
          });
        });
        await started.catch(() => {});
        streams[id] = s;
      }),
    );
  }
  const live = streams.filter((s) => s.ws.readyState === WebSocket.OPEN);
  failed += n - live.length;

  // send
  const frameBytes = frameSamples * 2;
  const sendFrame = (s: S) => {
    const f = s.next++;
    s.ws.send(s.bytes.subarray(f * frameBytes, Math.min(s.bytes.length, (f + 1) * frameBytes)));
    s.sentAt[f] = performance.now();
    if (s.next === frames) s.ws.send(JSON.stringify({ type: 'end' }));
  };
  const begin = performance.now();
  const stagger = o.stagger ?? o.realtime;
  live.forEach((s, k) => {
    s.start = begin + (stagger ? (((k * 7) % Math.max(1, live.length)) * ((HOP / RATE) * 1000)) / Math.max(1, live.length) : 0);
  });
  if (o.realtime) {
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        let pending = false;
        for (const s of live) {
          if (s.ws.readyState !== WebSocket.OPEN) continue;
          const due = Math.min(frames, Math.floor((now - s.start) / frameMillis) + 1);
          while (s.next < due) sendFrame(s);
          if (s.next < frames) pending = true;
        }
        if (pending) setTimeout(tick, 5);
        else resolve();
      };
      tick();
    });
  } else {
    // as fast as the server takes it: keep at most ~1 MB unsent per socket
    await Promise.all(
      live.map(
        (s) =>
          new Promise<void>((resolve) => {
            const pump = () => {
              while (s.next < frames && s.ws.readyState === WebSocket.OPEN && s.ws.bufferedAmount < 1 << 20) sendFrame(s);
              if (s.next >= frames || s.ws.readyState !== WebSocket.OPEN) resolve();
              else setTimeout(pump, 2);
            };
            pump();
          }),
      ),
    );
  }
  // wait for every stream to end (the server closes with 1000 after `ended`)
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<number>((r) => (timer = setTimeout(() => r(-1), 30_000 + (o.realtime ? 0 : o.seconds * 1000 * n * 0.05))));
  for (const s of live) {
    const code = await Promise.race([s.closed, deadline]);
    if (code === -1) s.ws.terminate();
    const missing = expected - s.got.size;
    if (code !== 1000 || s.ended === null) failed++;
    lost += Math.max(missing, s.dropped);
  }
  clearTimeout(timer);
  lost += (n - live.length) * expected;
  if (sub) {
    await sleep(50);
    sub.terminate();
  }
  return {
    streams: n,
    latenciesMs: latencies,
    subscriberLatenciesMs: subLatencies,
    windowsExpected: expected * n,
    windowsReceived: received,
    lostWindows: lost,
    failedStreams: failed,
    errors: errors.slice(0, 5),
    audioSeconds: o.seconds,
    wallSeconds: (performance.now() - t0) / 1000,
  };
}

/** p50/p99/max of latencies, ms. */
export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
  n: number;
}
/** The largest sample (NaN for none), without spreading them into Math.max (a fan-out run has 200,000). */
function largest(xs: readonly number[]): number {
  let m = xs.length ? Number.NEGATIVE_INFINITY : Number.NaN;
  for (const x of xs) if (x > m) m = x;
  return m;
}
export const percentiles = (xs: readonly number[]): Percentiles => ({
  p50: quantile(xs, 0.5),
  p99: quantile(xs, 0.99),
  max: largest(xs),
  n: xs.length,
});

// ------------------------------------------------------------------ figures

export interface LatencyFigure {
  /** At the ingest connection itself. */
  ingest: Percentiles;
  /** At a /v1/stream subscriber. */
  subscriber: Percentiles;
  lostWindows: number;
}

/** One real-time ingest stream and one subscriber: end-to-end latency. */
export async function benchLatency(server: ServerHandle, audio: Float32Array, seconds: number): Promise<LatencyFigure> {
  const r = await runIngest(server.url, 1, audio, { seconds, realtime: true, subscribe: true, frameMillis: 20 });
  return { ingest: percentiles(r.latenciesMs), subscriber: percentiles(r.subscriberLatenciesMs), lostWindows: r.lostWindows };
}

export interface StreamsFigure {
  /** The most streams held: p99 < 100 ms, nothing lost. */
  held: number;
  /** The fewest that failed (null: none failed up to the search's limit). */
  failedAt: number | null;
  /** Every level tried. */
  levels: {
    streams: number;
    latency: Percentiles;
    lostWindows: number;
    failedStreams: number;
    pass: boolean;
    errors: string[];
    /** The server process's CPU time per window received (all its threads), ms. */
    serverCpuMsPerWindow: number;
    /** Mean inference batch size at the server over the level. */
    meanBatch: number;
  }[];
}

/** Searches upward (doubling, then bisecting) for the most real-time ingest streams the server holds. */
export async function benchStreams(
  server: ServerHandle,
  audio: Float32Array,
  { seconds = 10, start = 8, limit = 1024, p99Ms = 100, log = (_: string) => {} } = {},
): Promise<StreamsFigure> {
  const levels: StreamsFigure['levels'] = [];
  // on a shared machine one hiccup of another process can spoil a run: a level that fails is tried once more
  const tryLevel = async (n: number) => (await runLevel(n)) || (await runLevel(n));
  const runLevel = async (n: number) => {
    const s0 = await server.stats();
    const r = await runIngest(server.url, n, audio, { seconds, realtime: true });
    const s1 = await server.stats();
    const latency = percentiles(r.latenciesMs);
    const pass = latency.p99 < p99Ms && r.lostWindows === 0 && r.failedStreams === 0;
    const serverCpuMsPerWindow = (s1.cpuMs - s0.cpuMs) / Math.max(1, r.windowsReceived);
    const meanBatch = (s1.inference.items - s0.inference.items) / Math.max(1, s1.inference.batches - s0.inference.batches);
    levels.push({
      streams: n,
      latency,
      lostWindows: r.lostWindows,
      failedStreams: r.failedStreams,
      pass,
      errors: r.errors,
      serverCpuMsPerWindow,
      meanBatch,
    });
    log(
      `streams: ${n} real-time streams: p99 ${latency.p99.toFixed(1)} ms, lost ${r.lostWindows}, failed ${r.failedStreams}, server CPU ${serverCpuMsPerWindow.toFixed(2)} ms/window, mean batch ${meanBatch.toFixed(1)} → ${pass ? 'held' : 'not held'}`,
    );
    await sleep(500);
    return pass;
  };
  let lo = 0;
  let hi: number | null = null;
  for (let n = start; n <= limit; n *= 2) {
    if (await tryLevel(n)) lo = n;
    else {
      hi = n;
      break;
    }
  }
  while (hi !== null && hi - lo > Math.max(2, Math.round(lo * 0.15))) {
    const mid = Math.round((lo + hi) / 2);
    if (await tryLevel(mid)) lo = mid;
    else hi = mid;
  }
  return { held: lo, failedAt: hi, levels };
}

/** One fan-out measurement: events published to `subscribers` subscribers, and where the time went. */
export interface FanoutLevel {
  subscribers: number;
  /** Publish → arrival at each subscriber (wall clock, across processes), every event at every subscriber. */
  latency: Percentiles;
  missing: number;
  failedToOpen: number;
  pass: boolean;
  /** The synchronous publishEvent call (encode, match, hand to every socket), median and max over the events, ms. */
  publishMs?: { median: number; max: number };
  /** Server CPU per event (user + system, all of its threads), ms; and per delivery, µs. */
  serverCpuMsPerEvent: number;
  serverCpuUsPerDelivery: number;
  /** The subscribers' process CPU per event (receiving, parsing), ms. */
  clientCpuMsPerEvent: number;
}

export interface FanoutFigure {
  /** The most subscribers held with event delivery p99 under the bound and nothing lost. */
  held: number;
  failedAt: number | null;
  levels: FanoutLevel[];
}

/** Subscribers in a process of their own (bench/fanout-client.ts). */
export interface FanoutClients {
  open(url: string, n: number): Promise<{ opened: number; failed: number }>;
  collect(): Promise<{ latenciesMs: number[]; received: number; closedEarly: number; cpuMs: number }>;
  close(): Promise<void>;
  kill(): void;
}

/** Starts the subscribers' process; `client`: its WebSocket client (see bench/fanout-client.ts). */
export async function startFanoutClients(client: 'raw' | 'ws' = 'raw'): Promise<FanoutClients> {
  const child = fork(fileURLToPath(new URL('./fanout-client.ts', import.meta.url)), ['--client', client], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const next = <T>() =>
    new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`fan-out client exited (code ${code})`));
      child.once('exit', onExit);
      child.once('message', (m) => {
        child.off('exit', onExit);
        resolve(m as T);
      });
    });
  const ask = <T>(req: FanoutRequest) => {
    const p = next<T>();
    child.send(req);
    return p;
  };
  await next();
  return {
    open: (url, n) => ask({ cmd: 'open', url: `${url}/v1/stream?types=event`, n }),
    collect: () => ask({ cmd: 'collect' }),
    close: async () => void (await ask({ cmd: 'close' })),
    kill: () => child.kill(),
  };
}

/** Publishes `events` events at `rate`/s to the `subscribers` open on `server` and measures their delivery. */
export async function measureFanout(
  server: ServerHandle,
  clients: FanoutClients,
  subscribers: number,
  { events = 20, rate = 5, p99Ms = 50, failedToOpen = 0 } = {},
): Promise<FanoutLevel> {
  await sleep(300);
  await clients.collect();
  const cpu0 = (await server.stats()).cpuMs;
  const publishMs = await server.events(events, rate);
  await sleep(1000);
  const cpu1 = (await server.stats()).cpuMs;
  const c = await clients.collect();
  const latency = percentiles(c.latenciesMs);
  const missing = subscribers * events - c.received;
  const serverCpuMsPerEvent = (cpu1 - cpu0) / events;
  return {
    subscribers,
    latency,
    missing,
    failedToOpen,
    pass: failedToOpen === 0 && missing === 0 && latency.p99 < p99Ms,
    ...(publishMs ? { publishMs: { median: quantile(publishMs, 0.5), max: Math.max(...publishMs) } } : {}),
    serverCpuMsPerEvent,
    serverCpuUsPerDelivery: (1000 * serverCpuMsPerEvent) / subscribers,
    clientCpuMsPerEvent: c.cpuMs / events,
  };
}

/** A one-line account of a fan-out level. */
export function fanoutLine(l: FanoutLevel): string {
  const pub = l.publishMs ? `, publish ${l.publishMs.median.toFixed(1)} ms (max ${l.publishMs.max.toFixed(1)})` : '';
  return `${l.subscribers} subscribers: event p50 ${l.latency.p50.toFixed(1)} / p99 ${l.latency.p99.toFixed(1)} ms${pub}, server CPU ${l.serverCpuMsPerEvent.toFixed(1)} ms/event (${l.serverCpuUsPerDelivery.toFixed(2)} µs/delivery), client CPU ${l.clientCpuMsPerEvent.toFixed(1)} ms/event, missing ${l.missing}${l.failedToOpen ? `, failed to open ${l.failedToOpen}` : ''} → ${l.pass ? 'held' : 'not held'}`;
}

/** Opens ever more subscribers (in a child process) and times event delivery to all of them. */
export async function benchFanout(
  server: ServerHandle,
  {
    levels: counts = [250, 500, 1000, 2000, 4000, 5000, 6000, 8000, 10000],
    events = 20,
    rate = 5,
    p99Ms = 50,
    log = (_: string) => {},
  } = {},
): Promise<FanoutFigure> {
  const clients = await startFanoutClients();
  const out: FanoutFigure = { held: 0, failedAt: null, levels: [] };
  try {
    let open = 0;
    for (const n of counts) {
      const r = await clients.open(server.url, n - open);
      open += r.opened;
      let pass = false;
      // a level that fails is tried once more (one hiccup of another process can spoil a run)
      for (let attempt = 0; attempt < 2 && !pass; attempt++) {
        const level = await measureFanout(server, clients, n, { events, rate, p99Ms, failedToOpen: r.failed });
        pass = level.pass;
        out.levels.push(level);
        log(`fan-out: ${fanoutLine(level)}`);
      }
      if (!pass) {
        out.failedAt = n;
        break;
      }
      out.held = n;
    }
    await clients.close();
  } finally {
    clients.kill();
  }
  return out;
}

export interface MemoryFigure {
  /** Audio streamed in all, s (3600 = an hour). */
  audioSeconds: number;
  windows: number;
  /** After a warm-up tenth of the audio, and at the end (both after a GC). */
  before: ServerStats;
  after: ServerStats;
  /** After each tenth of the audio (after a GC): windows so far, RSS, heap, tensors. */
  trace: { windows: number; rssBytes: number; heapUsedBytes: number; numTensors: number }[];
  wallSeconds: number;
}

/**
 * The memory soak's warm-up: a tenth of its audio (at least 2 s a stream) over its streams, as fast as
 * the server takes it. benchMemory's first figure is taken after it (so is bench/server-rss.ts's).
 */
export function soakWarmUp(server: ServerHandle, audio: Float32Array, { audioSeconds = 3600, streams = 4 } = {}): Promise<IngestRun> {
  return runIngest(server.url, streams, audio, { seconds: Math.max(2, audioSeconds / streams / 10), realtime: false, frameMillis: 500 });
}

/** Streams `audioSeconds` through the server as fast as it takes it, over `streams` streams; compares memory after a warm-up and at the end. */
export async function benchMemory(
  server: ServerHandle,
  audio: Float32Array,
  { audioSeconds = 3600, streams = 4, log = (_: string) => {} } = {},
): Promise<MemoryFigure> {
  const t0 = performance.now();
  const per = audioSeconds / streams;
  let windows = 0;
  const warm = await soakWarmUp(server, audio, { audioSeconds, streams });
  windows += warm.windowsReceived;
  await sleep(200);
  const before = await server.stats(true);
  log(
    `memory: warm-up done (${warm.windowsReceived} windows), RSS ${(before.rssBytes / 2 ** 20).toFixed(1)} MiB, ${before.numTensors} tensors`,
  );
  const point = (st: ServerStats) => ({ windows, rssBytes: st.rssBytes, heapUsedBytes: st.heapUsedBytes, numTensors: st.numTensors });
  const trace = [point(before)];
  const rounds = 9;
  for (let r = 0; r < rounds; r++) {
    const run = await runIngest(server.url, streams, audio, { seconds: per / 10, realtime: false, frameMillis: 500 });
    windows += run.windowsReceived;
    if (run.failedStreams) throw new Error(`memory soak: ${run.failedStreams} stream(s) failed: ${run.errors.join('; ')}`);
    if (r < rounds - 1) trace.push(point(await server.stats(true)));
  }
  await sleep(200);
  const after = await server.stats(true);
  trace.push(point(after));
  log(`memory: ${windows} windows, RSS ${(after.rssBytes / 2 ** 20).toFixed(1)} MiB, ${after.numTensors} tensors`);
  return { audioSeconds, windows, before, after, trace, wallSeconds: (performance.now() - t0) / 1000 };
}

export interface ReplayFigure {
  audioSeconds: number;
  /** × real time, as `soundee replay` reports it. */
  realtimeFactor: Stat;
}

/** `soundee replay --json` on a file of `seconds` of the bundled samples; the CLI's own ×real-time figure. */
export async function benchReplay(audio: Float32Array, { repeats = 3, env = {} as Record<string, string> } = {}): Promise<ReplayFigure> {
  const dir = await mkdtemp(join(tmpdir(), 'soundee-bench-'));
  try {
    const file = join(dir, 'replay.wav');
    await writeFile(file, encodeWav(audio, RATE));
    const bin = fileURLToPath(new URL('../bin/soundee.js', import.meta.url));
    const factors: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const stderr = await new Promise<string>((resolve, reject) => {
        const p = spawn(process.execPath, [bin, 'replay', file, '--json'], {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, ...env },
        });
        let err = '';
        p.stderr.on('data', (d: Buffer) => (err += d.toString()));
        p.on('error', reject);
        p.on('close', (code) =>
          code === 0 ? resolve(err) : reject(new Error(`soundee replay exited ${code}: ${err.trim().split('\n').pop()}`)),
        );
      });
      const m = /\(([\d.]+)× real time\)/.exec(stderr);
      if (!m) throw new Error(`no speed in soundee replay's output: ${stderr.trim().split('\n').pop()}`);
      factors.push(Number(m[1]));
    }
    return { audioSeconds: audio.length / RATE, realtimeFactor: stat(factors) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
