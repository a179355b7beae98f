/**
 * Real-time streams one server holds, per inference engine, the engines **taking turns** at each
 * level (so that the load of a shared machine hits them alike), and where the server's time goes.
 *
 * `tsx bench/engine-streams.ts [--engines onnx:2,onnx:1,wasm:1] [--levels 32,64,96,128,160,192,256,320] [--seconds 10]`
 *   one server child per engine (bench/server-child.ts: the bundled model behind the real server, as
 *   `soundee serve --backend B --threads T` runs it); at each level every engine still in the race
 *   takes N real-time ingest streams (bench/pipeline.ts runIngest); held = p99 < 100 ms and no window
 *   lost; an engine leaves the race after failing a level twice.
 * `tsx bench/engine-streams.ts --profile 96 [--engines onnx:2]`
 *   one run of 96 streams per engine under `--cpu-prof`: the server's CPU per window, the part its main
 *   thread spends per category (feature path, inference, WebSocket I/O, …; start-up excluded) and the
 *   part on other threads (sharp/libvips's pool, onnxruntime's intra-op threads, GC).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sleep, table, uptime } from './lib.ts';
import { type ServerHandle, benchAudio, percentiles, runIngest, startServerChild } from './pipeline.ts';

interface EngineSpec {
  backend: string;
  threads: number;
}
const name = (e: EngineSpec) => `${e.backend} ×${e.threads}`;

const { values } = parseArgs({
  options: {
    engines: { type: 'string', default: 'onnx:2,onnx:1,wasm:1' },
    levels: { type: 'string', default: '32,64,96,128,160,192,256,320' },
    seconds: { type: 'string', default: '10' },
    profile: { type: 'string' },
  },
});
const engines: EngineSpec[] = values.engines.split(',').map((s) => {
  const [backend, threads] = s.split(':');
  return { backend: backend!, threads: Number(threads ?? 0) };
});
const seconds = Number(values.seconds);

console.log(`before: ${uptime()}`);
const audio = await benchAudio(120);

if (values.profile) await profile(Number(values.profile));
else await levels(values.levels.split(',').map(Number));
console.log(`after: ${uptime()}`);

async function levels(counts: number[]): Promise<void> {
  const servers: ServerHandle[] = [];
  for (const e of engines) servers.push(await startServerChild(e.threads, [], ['--backend', e.backend]));
  const failures = new Map<string, number>();
  const held = new Map<string, number>();
  const rows = [['streams', ...engines.map(name)]];
  try {
    for (const n of counts) {
      const row = [String(n)];
      for (const [i, e] of engines.entries()) {
        if ((failures.get(name(e)) ?? 0) >= 2) {
          row.push('—');
          continue;
        }
        const server = servers[i]!;
        const s0 = await server.stats();
        const r = await runIngest(server.url, n, audio, { seconds, realtime: true });
        const s1 = await server.stats();
        const p = percentiles(r.latenciesMs);
        const pass = p.p99 < 100 && r.lostWindows === 0 && r.failedStreams === 0;
        const cpu = (s1.cpuMs - s0.cpuMs) / Math.max(1, r.windowsReceived);
        const batch = (s1.inference.items - s0.inference.items) / Math.max(1, s1.inference.batches - s0.inference.batches);
        if (pass) held.set(name(e), n);
        else failures.set(name(e), (failures.get(name(e)) ?? 0) + 1);
        row.push(
          `p99 ${p.p99.toFixed(0)} ms${r.lostWindows ? `, lost ${r.lostWindows}` : ''}, ${cpu.toFixed(2)} ms CPU/window, batch ${batch.toFixed(1)}${pass ? '' : ' ✗'}`,
        );
        process.stderr.write(`  … ${n} streams, ${name(e)}: ${row[row.length - 1]}\n`);
        await sleep(500);
      }
      rows.push(row);
      if (engines.every((e) => (failures.get(name(e)) ?? 0) >= 2)) break;
    }
  } finally {
    for (const s of servers) await s.close();
  }
  console.log(table(rows));
  console.log(`highest level held: ${engines.map((e) => `${name(e)} ${held.get(name(e)) ?? 0}`).join(', ')}`);
}

async function profile(n: number): Promise<void> {
  for (const e of engines) {
    const dir = mkdtempSync(join(tmpdir(), 'soundee-prof-'));
    try {
      const server = await startServerChild(
        e.threads,
        ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=500'],
        ['--backend', e.backend],
      );
      const s0 = await server.stats();
      // the profile's clock is CLOCK_MONOTONIC in µs, as process.hrtime here: keep only the samples of the run
      const from = Number(process.hrtime.bigint() / 1000n);
      const r = await runIngest(server.url, n, audio, { seconds, realtime: true });
      const to = Number(process.hrtime.bigint() / 1000n);
      const s1 = await server.stats();
      await server.close();
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error('no profile written');
      const { byCategory, other } = mainThreadTime(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile, from, to);
      const windows = r.windowsReceived;
      const cpuMs = s1.cpuMs - s0.cpuMs;
      const busyMs = [...byCategory.values()].reduce((a, b) => a + b, 0);
      const p = percentiles(r.latenciesMs);
      console.log(
        `\n${name(e)}, ${n} real-time streams, ${seconds} s: ${windows} windows, p99 ${p.p99.toFixed(0)} ms, lost ${r.lostWindows}, mean batch ${((s1.inference.items - s0.inference.items) / Math.max(1, s1.inference.batches - s0.inference.batches)).toFixed(1)}`,
      );
      const rows = [
        ['where', 'ms per window', 'share of the process CPU'],
        ['process CPU (all threads)', (cpuMs / windows).toFixed(3), '100 %'],
      ];
      for (const [k, ms] of [...byCategory].sort((a, b) => b[1] - a[1]))
        rows.push([`  main thread: ${k}`, (ms / windows).toFixed(3), `${((100 * ms) / cpuMs).toFixed(0)} %`]);
      rows.push([
        '  other threads: sharp/libvips pool, onnxruntime intra-op pool, GC',
        ((cpuMs - busyMs) / windows).toFixed(3),
        `${((100 * (cpuMs - busyMs)) / cpuMs).toFixed(0)} %`,
      ]);
      console.log(table(rows));
      if (process.env.SOUNDEE_PROFILE_OTHER)
        console.log(
          [...other]
            .sort((a, b) => b[1] - a[1])
            .slice(0, 15)
            .map(([k, ms]) => `    ${(ms / windows).toFixed(3)} ${k}`)
            .join('\n'),
        );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Main-thread time (ms) per category between `from` and `to` (µs, the profile's clock), idle left out; `other`: what fell in no category, by function. */
function mainThreadTime(prof: CpuProfile, from: number, to: number): { byCategory: Map<string, number>; other: Map<string, number> } {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const categoryCache = new Map<number, string | null>();
  const category = (id: number): string | null => {
    const cached = categoryCache.get(id);
    if (cached !== undefined) return cached;
    let found: string | null = null;
    // the innermost frame of ours decides; inference wins over everything below it
    for (let cur: number | undefined = id; cur !== undefined && found === null; cur = parent.get(cur)) {
      const { url, functionName: fn } = byId.get(cur)!.callFrame;
      if (/model\/(onnx\/runtime|inference)\.ts/.test(url) && fn === 'run') found = 'inference (engine.run)';
    }
    if (found === null) {
      const { url, functionName: fn } = byId.get(id)!.callFrame;
      found =
        fn === '(idle)'
          ? null
          : fn === '(garbage collector)'
            ? 'garbage collection'
            : /src\/(dsp|features\/framer)|fft\.js/.test(url)
              ? 'feature path: STFT, framing'
              : /src\/features\/render|sharp|d3-(scale|interpolate|color)/.test(url)
                ? 'feature path: colormap, sharp resize'
                : /node_modules\/ws\/|node:net|internal\/stream|stream_base|node:buffer/.test(url) ||
                    fn === 'writev' ||
                    fn === 'writeBuffer'
                  ? 'WebSocket and socket I/O'
                  : /src\/server\//.test(url)
                    ? 'server: protocol, messages'
                    : /src\/audio\//.test(url)
                      ? 'PCM decoding'
                      : /src\/events\//.test(url)
                        ? 'event layer'
                        : /rxjs|src\/stream\//.test(url)
                          ? 'stream operators (RxJS)'
                          : /src\/model\//.test(url)
                            ? 'classifier (labels, batching)'
                            : 'other (native, timers, JSON…)';
    }
    categoryCache.set(id, found);
    return found;
  };
  const out = new Map<string, number>();
  const other = new Map<string, number>();
  let t = prof.startTime;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t > to) return;
    const c = category(id);
    if (c) out.set(c, (out.get(c) ?? 0) + dt / 1000);
    if (c?.startsWith('other')) {
      const { functionName, url } = byId.get(id)!.callFrame;
      const k = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}`;
      other.set(k, (other.get(k) ?? 0) + dt / 1000);
    }
  });
  return { byCategory: out, other };
}
