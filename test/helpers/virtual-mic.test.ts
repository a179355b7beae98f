/**
 * The virtual microphone end to end: a real PulseAudio daemon, real recorders (sox with node-record-lpcm16's exact
 * command line, node-record-lpcm16 itself, arecord), a tone played in real time.
 * Run: node --import tsx --test test/helpers/virtual-mic.test.ts
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { startVirtualMic, VIRTUAL_MIC, type VirtualMic, virtualMicSkipReason } from './virtual-mic.ts';

const require = createRequire(import.meta.url);
interface RecorderSpec {
  cmd: string;
  args: Array<string | number>;
  spawnOptions?: { env?: NodeJS.ProcessEnv };
}
type RecorderFactory = (options: Record<string, unknown>) => RecorderSpec;
interface Recording {
  process: ChildProcess;
  stream(): Readable;
  stop(): void;
}
const lpcm16 = require('node-record-lpcm16') as { record(options: Record<string, unknown>): Recording };
const soxRecorder = require('node-record-lpcm16/recorders/sox.js') as RecorderFactory;

const RATE = VIRTUAL_MIC.sampleRateHz;
const TONE_HZ = 1000;
const TONE_AMP = 0.5;
const TONE_SECONDS = 1;
/** node-record-lpcm16's defaults, with raw output as Soundee uses it. */
const RECORD_OPTIONS = {
  sampleRate: RATE,
  channels: 1,
  compress: false,
  threshold: 0.5,
  thresholdStart: null,
  thresholdEnd: null,
  silence: '1.0',
  endOnSilence: false,
  audioType: 'raw',
};

const skip = await virtualMicSkipReason({ recorders: ['sox'] });
const hasArecord = (await virtualMicSkipReason({ recorders: ['arecord'] })) === false;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Collects a recorder's raw s16le output with arrival times. */
class Capture {
  readonly chunks: Array<{ atMs: number; bytes: number }> = [];
  private readonly parts: Buffer[] = [];
  private bytes = 0;
  readonly firstChunk: Promise<number>;
  readonly closed: Promise<void>;
  readonly t0 = performance.now();
  stderr = '';

  constructor(
    stdout: Readable,
    private readonly child: ChildProcess,
  ) {
    let gotFirst!: (t: number) => void;
    this.firstChunk = new Promise((r) => {
      gotFirst = r;
    });
    stdout.on('data', (b: Buffer) => {
      const atMs = performance.now() - this.t0;
      if (this.chunks.length === 0) gotFirst(atMs);
      this.chunks.push({ atMs, bytes: b.length });
      this.parts.push(b);
      this.bytes += b.length;
    });
    child.stderr?.on('data', (s: Buffer) => {
      this.stderr += s.toString();
    });
    stdout.on('error', (e: unknown) => {
      this.stderr += `stream error: ${String(e)}`;
    }); // node-record-lpcm16 emits non-zero exits here
    this.closed = child.exitCode !== null ? Promise.resolve() : new Promise((r) => child.once('close', () => r()));
  }

  /** Time (ms since t0) by which `sampleIndex` had arrived. */
  arrivalOf(sampleIndex: number): number {
    let bytes = 0;
    for (const c of this.chunks) {
      bytes += c.bytes;
      if (bytes > sampleIndex * 2) return c.atMs;
    }
    return Number.POSITIVE_INFINITY;
  }

  samples(): Float32Array {
    const buf = Buffer.concat(this.parts);
    const n = Math.floor(buf.length / 2);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = buf.readInt16LE(2 * i) / 32768;
    return out;
  }

  /** SIGTERM (what node-record-lpcm16's stop() sends), SIGKILL if it lingers. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.closed;
    clearTimeout(timer);
  }
}

/** Spawns sox exactly as node-record-lpcm16's sox recorder does. */
function recordWithSox(env: NodeJS.ProcessEnv): Capture {
  const { cmd, args } = soxRecorder(RECORD_OPTIONS);
  assert.equal(cmd, 'sox');
  assert.ok(args.includes('--default-device'), 'node-record-lpcm16 records from sox --default-device');
  const child = spawn(cmd, args.map(String), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Capture(child.stdout, child);
}

/** Amplitude of the freqHz component of x[from, to) (Goertzel / single DFT bin). */
function toneAmplitude(x: Float32Array, freqHz: number, from = 0, to = x.length): number {
  const w = (2 * Math.PI * freqHz) / RATE;
  let re = 0;
  let im = 0;
  for (let i = from; i < to; i++) {
    re += x[i]! * Math.cos(w * i);
    im -= x[i]! * Math.sin(w * i);
  }
  return (2 * Math.hypot(re, im)) / (to - from);
}
function rms(x: Float32Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / Math.max(1, to - from));
}

interface ToneAnalysis {
  onset: number;
  offset: number;
  durationS: number;
  rms: number;
  amp1k: number;
  toneEnergyFraction: number;
  rmsBefore: number;
}
/** Locates the tone (samples above a third of its amplitude) and measures it over its inner 80 %. */
function analyseTone(x: Float32Array): ToneAnalysis | null {
  let onset = -1;
  let offset = -1;
  for (let i = 0; i < x.length; i++)
    if (Math.abs(x[i]!) > TONE_AMP / 3) {
      if (onset < 0) onset = i;
      offset = i;
    }
  if (onset < 0) return null;
  const margin = Math.floor((offset - onset) * 0.1);
  const [a, b] = [onset + margin, offset - margin];
  // a whole number of 1 kHz periods (16 samples) so the single bin is exact
  const b2 = a + Math.floor((b - a) / 16) * 16;
  const r = rms(x, a, b2);
  const amp1k = toneAmplitude(x, TONE_HZ, a, b2);
  return {
    onset,
    offset,
    durationS: (offset - onset + 1) / RATE,
    rms: r,
    amp1k,
    toneEnergyFraction: (amp1k * amp1k) / 2 / (r * r),
    rmsBefore: rms(x, 0, Math.max(0, onset - 160)), // up to 10 ms before the onset
  };
}

let tmp = '';
let toneWav = '';
let mic: VirtualMic | undefined;

/** Live (non-zombie) processes descending from this one, or whose command line mentions `needle`. */
function leftovers(needle: string): string[] {
  const procs = new Map<number, { ppid: number; comm: string; cmdline: string }>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const [state, ppid] = stat.slice(close + 2).split(' ');
      if (state === 'Z' || state === 'X') continue;
      procs.set(Number(e), {
        ppid: Number(ppid),
        comm: stat.slice(stat.indexOf('(') + 1, close),
        cmdline: readFileSync(`/proc/${e}/cmdline`, 'utf8').replaceAll('\0', ' ').trim(),
      });
    } catch {
      /* exited meanwhile */
    }
  }
  const isOurs = (pid: number): boolean => {
    for (let p = procs.get(pid)?.ppid, hops = 0; p && hops < 64; p = procs.get(p)?.ppid, hops++) if (p === process.pid) return true;
    return false;
  };
  const audio = /^(pulseaudio|sox|rec|arecord|paplay|parec|pacat|bash)$/;
  return [...procs]
    .filter(([pid, p]) => pid !== process.pid && ((isOurs(pid) && audio.test(p.comm)) || (needle !== '' && p.cmdline.includes(needle))))
    .map(([pid, p]) => `${pid} ${p.comm}: ${p.cmdline}`);
}

describe('virtual microphone (scripts/virtual-mic.sh)', { skip, timeout: 55_000 }, () => {
  before(
    async () => {
      tmp = await mkdtemp(join(tmpdir(), 'soundee-vmic-test-'));
      toneWav = join(tmp, 'tone-1k.wav');
      try {
        execFileSync(
          'sox',
          [
            '-n',
            '-r',
            String(RATE),
            '-c',
            '1',
            '-b',
            '16',
            toneWav,
            'synth',
            String(TONE_SECONDS),
            'sine',
            String(TONE_HZ),
            'vol',
            String(TONE_AMP),
          ],
          { stdio: 'pipe' },
        );
      } catch (e) {
        throw new Error(`sox could not generate the test tone (apt-get install -y sox): ${String(e)}`);
      }
      // exportEnv: node-record-lpcm16 spawns its recorder with the inherited environment
      mic = await startVirtualMic({ exportEnv: true });
    },
    { timeout: 20_000 },
  );

  after(async () => {
    await mic?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test('a tone played into the mic is recorded by sox (node-record-lpcm16 command line), in real time', {
    timeout: 15_000,
  }, async (ctx) => {
    const rec = recordWithSox(mic!.childEnv());
    try {
      const ready = await Promise.race([rec.firstChunk, sleep(5000).then(() => -1)]);
      assert.ok(ready >= 0, `sox produced no data within 5 s: ${rec.stderr}`);
      await sleep(300); // some idle input before the tone
      const playAt = performance.now() - rec.t0;
      await mic!.play(toneWav);
      const playedMs = performance.now() - rec.t0 - playAt;
      await sleep(700); // the recorder lags the sink by ~0.2 s
      await rec.stop();

      const x = rec.samples();
      const t = analyseTone(x);
      assert.ok(t, `no tone in ${(x.length / RATE).toFixed(2)} s of recording (rms ${rms(x).toExponential(2)}); sox: ${rec.stderr}`);
      const latencyMs = rec.arrivalOf(t.onset) - playAt;
      const info = `first data after ${ready.toFixed(0)} ms; tone ${JSON.stringify(t)}; latency play() -> tone at recorder ${latencyMs.toFixed(0)} ms; play() took ${playedMs.toFixed(0)} ms`;
      ctx.diagnostic(info);
      assert.ok(Math.abs(t.durationS - TONE_SECONDS) < 0.02, `tone must come out whole and in real time: ${info}`);
      assert.ok(t.toneEnergyFraction > 0.98, `1 kHz must dominate: ${info}`);
      assert.ok(Math.abs(t.amp1k - TONE_AMP) < 0.05, `unity gain expected: ${info}`);
      assert.ok(Math.abs(t.rms - TONE_AMP / Math.SQRT2) < 0.04, `rms of a ${TONE_AMP} sine: ${info}`);
      assert.ok(t.rmsBefore < 1e-3, `silence before the tone: ${info}`);
      assert.ok(latencyMs > 0 && latencyMs < 2000, `the tone reaches the recorder soon after play(): ${info}`);
      assert.ok(playedMs >= TONE_SECONDS * 1000 - 50 && playedMs < TONE_SECONDS * 1000 + 2000, `play() resolves once played: ${info}`);
    } finally {
      await rec.stop();
    }
  });

  test('when nothing plays, the recorder gets a continuous stream of silence (not no data)', { timeout: 15_000 }, async (ctx) => {
    const rec = recordWithSox(mic!.childEnv());
    try {
      const first = await Promise.race([rec.firstChunk, sleep(5000).then(() => -1)]);
      assert.ok(first >= 0, `sox produced no data within 5 s: ${rec.stderr}`);
      await sleep(1500);
      const elapsedS = (performance.now() - rec.t0 - first) / 1000;
      await rec.stop();

      const x = rec.samples();
      const receivedS = x.length / RATE;
      const gaps = rec.chunks.slice(1).map((c, i) => c.atMs - rec.chunks[i]!.atMs);
      const peak = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const info = `first data after ${first.toFixed(0)} ms; received ${receivedS.toFixed(2)} s of audio over ${elapsedS.toFixed(2)} s, ${rec.chunks.length} chunks, max gap ${Math.max(...gaps).toFixed(0)} ms, peak ${(peak * 32768).toFixed(0)} LSB, rms ${(rms(x) * 32768).toFixed(2)} LSB`;
      ctx.diagnostic(info);
      // a real-time stream: about as much audio as wall time, delivered in small steady chunks
      assert.ok(receivedS > elapsedS * 0.7 && receivedS < elapsedS + 0.6, info);
      assert.ok(Math.max(...gaps) < 600, `data keeps flowing: ${info}`);
      // digital silence; sox converts pulse's 32-bit stream to 16 bits with TPDF dither, so ±1..2 LSB
      assert.ok(peak * 32768 <= 4, `silence: ${info}`);
      assert.ok(rms(x) * 32768 < 2, `silence: ${info}`);
    } finally {
      await rec.stop();
    }
  });

  test('node-record-lpcm16 itself records the tone from the named source (AUDIODEV=soundee_mic)', { timeout: 15_000 }, async () => {
    const recording = lpcm16.record({ ...RECORD_OPTIONS, device: VIRTUAL_MIC.source });
    const rec = new Capture(recording.stream(), recording.process);
    try {
      const first = await Promise.race([rec.firstChunk, sleep(5000).then(() => -1)]);
      assert.ok(first >= 0, `no data within 5 s: ${rec.stderr}`);
      await mic!.play(toneWav);
      await sleep(700);
      recording.stop();
      await rec.stop();
      const t = analyseTone(rec.samples());
      assert.ok(
        t && Math.abs(t.durationS - TONE_SECONDS) < 0.02 && t.toneEnergyFraction > 0.98,
        `tone: ${JSON.stringify(t)}; ${rec.stderr}`,
      );
    } finally {
      await rec.stop();
    }
  });

  test('arecord records it too (ALSA default -> pulse)', {
    skip: hasArecord ? false : 'arecord / libasound2-plugins missing',
    timeout: 15_000,
  }, async () => {
    const child = spawn('arecord', ['-q', '-r', String(RATE), '-c', '1', '-t', 'raw', '-f', 'S16_LE', '-'], {
      env: mic!.childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const rec = new Capture(child.stdout, child);
    try {
      const first = await Promise.race([rec.firstChunk, sleep(5000).then(() => -1)]);
      assert.ok(first >= 0, `no data within 5 s: ${rec.stderr}`);
      await mic!.play(toneWav);
      await sleep(500);
      await rec.stop();
      const t = analyseTone(rec.samples());
      assert.ok(
        t && Math.abs(t.durationS - TONE_SECONDS) < 0.02 && t.toneEnergyFraction > 0.98,
        `tone: ${JSON.stringify(t)}; ${rec.stderr}`,
      );
    } finally {
      await rec.stop();
    }
  });

  test('stop() leaves no process behind and restores the environment', { timeout: 15_000 }, async () => {
    const m = mic!;
    assert.equal(process.env.PULSE_SERVER, m.env.PULSE_SERVER);
    const pid = m.pid;
    assert.ok(existsSync(`/proc/${pid}`), 'daemon alive before stop');
    await m.stop();
    await m.stop(); // idempotent
    assert.ok(!existsSync(`/proc/${pid}`) || !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(m.dir), `daemon ${pid} still there`);
    assert.deepEqual(leftovers(m.dir), []);
    assert.ok(!existsSync(m.dir), 'runtime directory removed');
    assert.notEqual(process.env.PULSE_SERVER, m.env.PULSE_SERVER, 'process.env restored');
    await assert.rejects(m.play(toneWav), /stopped/);
  });
});
