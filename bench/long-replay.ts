/**
 * `soundee replay` on a very long file: a 10-hour 48 kHz stereo 16-bit WAV (6.9 GB, generated on the
 * fly in the temporary folder from the bundled samples, deleted afterwards) is replayed as fast as the
 * machine goes, and the replay process's peak resident memory (VmHWM, polled from /proc), the time to
 * its first prediction and its speed are measured. Files are read, decoded and resampled as a stream,
 * so memory should not depend on the length; the same figures for a 1-minute file are measured beside
 * it for comparison.
 *
 * `npx tsx bench/long-replay.ts [--hours 10]` (Linux: /proc), or as part of `npm run bench`.
 */
import { spawn } from 'node:child_process';
import { open, readFile, readdir, rm, mkdtemp, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadAudio } from '../src/audio/wav-reader.ts';
import { SAMPLES_DIR } from '../src/paths.ts';

export interface LongReplayFigure {
  hours: number;
  sampleRateHz: number;
  channels: number;
  fileBytes: number;
  /** Peak resident set of the replay process (VmHWM), bytes. */
  peakRssBytes: number;
  /** From spawning `soundee replay` to its first prediction line (model loading included), ms. */
  firstPredictionMs: number;
  windows: number;
  wallSeconds: number;
  realtimeFactor: number;
}

const RATE = 48000;
const CHANNELS = 2;

/**
 * Writes `seconds` of 48 kHz stereo 16-bit audio (the bundled samples end to end, left and right
 * different) as a WAV whose size fields say "to the end of the file" (0xFFFFFFFF: a RIFF header cannot
 * state more than 4 GiB), a few seconds at a time.
 */
export async function writeLongWav(path: string, seconds: number): Promise<number> {
  const files = (await readdir(SAMPLES_DIR)).filter((f) => f.endsWith('.wav')).sort();
  const parts = await Promise.all(files.map((f) => loadAudio(join(SAMPLES_DIR, f), RATE)));
  const loop = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    loop.set(p, o);
    o += p.length;
  }
  const header = new Uint8Array(44);
  const dv = new DataView(header.buffer);
  const tag = (at: number, s: string) => {
    for (let i = 0; i < s.length; i++) dv.setUint8(at + i, s.charCodeAt(i));
  };
  tag(0, 'RIFF');
  dv.setUint32(4, 0xffffffff, true);
  tag(8, 'WAVE');
  tag(12, 'fmt ');
  dv.setUint32(16, 16, true);
  dv.setUint16(20, 1, true);
  dv.setUint16(22, CHANNELS, true);
  dv.setUint32(24, RATE, true);
  dv.setUint32(28, RATE * CHANNELS * 2, true);
  dv.setUint16(32, CHANNELS * 2, true);
  dv.setUint16(34, 16, true);
  tag(36, 'data');
  dv.setUint32(40, 0xffffffff, true);
  const fh = await open(path, 'w');
  try {
    await fh.write(header);
    const block = 10 * RATE; // frames per write
    const pcm = new Int16Array(block * CHANNELS);
    const total = Math.round(seconds * RATE);
    for (let frame = 0; frame < total; frame += block) {
      const n = Math.min(block, total - frame);
      for (let i = 0; i < n; i++) {
        const k = frame + i;
        pcm[2 * i] = Math.round(loop[k % loop.length]! * 24000);
        pcm[2 * i + 1] = Math.round(loop[(k + 7 * RATE) % loop.length]! * 24000);
      }
      await fh.write(new Uint8Array(pcm.buffer, 0, n * CHANNELS * 2));
    }
  } finally {
    await fh.close();
  }
  return 44 + Math.round(seconds * RATE) * CHANNELS * 2;
}

/** The VmHWM (peak resident set) of a process, bytes; 0 when /proc cannot tell. */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/** Replays `file` with the real binary (--json to a pipe), polling its peak memory. */
export function measureReplay(
  file: string,
  env: Record<string, string> = {},
): Promise<Omit<LongReplayFigure, 'hours' | 'sampleRateHz' | 'channels' | 'fileBytes'>> {
  const bin = fileURLToPath(new URL('../bin/soundee.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [bin, 'replay', file, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let peak = 0;
    let first = -1;
    let windows = 0;
    let err = '';
    let rest = '';
    const poll = setInterval(() => void peakRss(p.pid!).then((b) => (peak = Math.max(peak, b))), 250);
    p.stdout.on('data', (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop()!;
      for (const l of lines)
        if (l.startsWith('{"type":"prediction"')) {
          if (first < 0) first = performance.now() - t0;
          windows++;
        }
    });
    p.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    p.on('error', reject);
    p.on('close', (code) => {
      clearInterval(poll);
      const wallSeconds = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`soundee replay exited ${code}: ${err.trim().split('\n').pop()}`));
      const m = /([\d.]+) s of audio in ([\d.]+) s \(([\d.]+)× real time\)/.exec(err);
      resolve({ peakRssBytes: peak, firstPredictionMs: first, windows, wallSeconds, realtimeFactor: m ? Number(m[3]) : Number.NaN });
    });
  });
}

/**
 * Generates the long file (checking the disk has room), replays it, and a 1-minute file beside it;
 * removes the files. `env` reaches the replays (SOUNDEE_BACKEND, SOUNDEE_THREADS: the bench's --backend
 * and --threads).
 */
export async function benchLongReplay({
  hours = 10,
  log = (_: string) => {},
  env = {} as Record<string, string>,
} = {}): Promise<{ long: LongReplayFigure; oneMinute: LongReplayFigure }> {
  const dir = await mkdtemp(join(tmpdir(), 'soundee-long-'));
  try {
    const bytes = 44 + hours * 3600 * RATE * CHANNELS * 2;
    const fs = await statfs(dir);
    if (fs.bavail * fs.bsize < bytes * 1.1)
      throw new Error(
        `${(bytes / 2 ** 30).toFixed(1)} GiB needed in ${tmpdir()} for the ${hours} h file; ${((fs.bavail * fs.bsize) / 2 ** 30).toFixed(1)} GiB free`,
      );
    const short = join(dir, 'one-minute.wav');
    const shortBytes = await writeLongWav(short, 60);
    const oneMinute = {
      hours: 1 / 60,
      sampleRateHz: RATE,
      channels: CHANNELS,
      fileBytes: shortBytes,
      ...(await measureReplay(short, env)),
    };
    log(`long replay: 1 min file: peak RSS ${(oneMinute.peakRssBytes / 2 ** 20).toFixed(0)} MiB`);
    const path = join(dir, 'long.wav');
    log(`long replay: writing ${hours} h of 48 kHz stereo 16-bit (${(bytes / 2 ** 30).toFixed(1)} GiB) to ${dir}`);
    const fileBytes = await writeLongWav(path, hours * 3600);
    log('long replay: replaying it');
    const long = { hours, sampleRateHz: RATE, channels: CHANNELS, fileBytes, ...(await measureReplay(path, env)) };
    return { long, oneMinute };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { hours: { type: 'string', default: '10' } } });
  const r = await benchLongReplay({ hours: Number(values.hours), log: (s) => process.stderr.write(`  … ${s}\n`) });
  console.log(JSON.stringify(r, null, 1));
}
