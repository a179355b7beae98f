/**
 * A real (virtual) microphone for tests, backed by scripts/virtual-mic.sh: a private PulseAudio daemon whose default
 * source `soundee_mic` (16000 Hz mono s16le) plays back whatever `mic.play(file)` sends to its null sink, in real
 * time. Recorders (`sox -d`, `rec`, `arecord`, node-record-lpcm16) find it through `mic.env`.
 *
 *   const skip = await virtualMicSkipReason({ recorders: ['sox'] });
 *   test('hears a tone', { skip }, async () => {
 *     const mic = await startVirtualMic();
 *     try { spawn('sox', args, { env: { ...process.env, ...mic.env } }); await mic.play('tone.wav'); }
 *     finally { await mic.stop(); }
 *   });
 *
 * Each mic is its own daemon in its own temporary directory, so test files running in parallel do not interfere.
 * The daemon is a direct child of this process (`virtual-mic.sh run`), so it is reaped here, never left a zombie.
 * When nothing plays, recorders receive continuous digital silence (sox adds ±1 LSB dither), like a real idle mic.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const VIRTUAL_MIC_SCRIPT = fileURLToPath(new URL('../../scripts/virtual-mic.sh', import.meta.url));

/** Names and format of the virtual devices (fixed by the script). */
export const VIRTUAL_MIC = { source: 'soundee_mic', sink: 'soundee_speaker', sampleRateHz: 16000, channels: 1 } as const;

/** Set to 1 (CI, where the packages are installed) to make a missing PulseAudio a failure instead of a skip. */
export const REQUIRE_ENV = 'SOUNDEE_REQUIRE_VIRTUAL_MIC';

export type Recorder = 'sox' | 'rec' | 'arecord';

export interface VirtualMic {
  /** Directory holding the daemon's socket, config and log (removed by stop()). */
  readonly dir: string;
  /** PID of the PulseAudio daemon. */
  readonly pid: number;
  /** What a recorder needs in its environment: PULSE_SERVER, PULSE_CLIENTCONFIG and (with sox's pulse driver) AUDIODRIVER. */
  readonly env: Readonly<Record<string, string>>;
  /** `process.env` plus `env`, for spawning recorders. */
  childEnv(): NodeJS.ProcessEnv;
  /** Plays an audio file (WAV; other formats through sox) into the mic in real time; resolves once it has been played. */
  play(path: string, options?: { timeoutMs?: number }): Promise<void>;
  /** The daemon's log (useful in assertion messages). */
  log(): Promise<string>;
  /** Stops playback and the daemon, waits for them to exit, restores process.env and removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

export interface StartVirtualMicOptions {
  /** Also put `env` into process.env until stop(), for code that spawns recorders with the inherited environment
   * (node-record-lpcm16 does). Default false. */
  exportEnv?: boolean;
  /** How long to wait for the daemon to answer. Default 10 s. */
  readyTimeoutMs?: number;
  /** Keep the directory (log, config) after stop(). Default false. */
  keepDir?: boolean;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runScript(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    execFile(
      'bash',
      [VIRTUAL_MIC_SCRIPT, ...args],
      { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
        resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/**
 * Why the virtual mic (and the given recorders) cannot be used here, or `false` when they can: pass it straight to
 * node:test's `skip` option. With SOUNDEE_REQUIRE_VIRTUAL_MIC=1 it is always `false`, so the tests run and fail loudly.
 */
export async function virtualMicSkipReason(options: { recorders?: Recorder[] } = {}): Promise<string | false> {
  if (process.env[REQUIRE_ENV] === '1') return false;
  if (process.platform !== 'linux') return `virtual microphone: needs Linux + PulseAudio (this is ${process.platform})`;
  const r = await runScript(['doctor'], process.env, 15_000);
  if (r.code !== 0 && r.code !== 4) return `virtual microphone: scripts/virtual-mic.sh doctor failed (${r.code}): ${r.stderr.trim()}`;
  const status = new Map<string, { ok: boolean; pkg: string }>();
  for (const line of r.stdout.split('\n')) {
    const m = /^(ok|missing|MISSING)\s+(\S+)\s+(\S+)/.exec(line);
    if (m) status.set(m[2]!, { ok: m[1] === 'ok', pkg: m[3]! });
  }
  const needed = ['pulseaudio', 'pa-modules', 'pulseaudio-utils'];
  for (const rec of options.recorders ?? []) {
    if (rec === 'arecord') needed.push('arecord', 'alsa-pulse');
    else needed.push('sox', 'sox-pulse');
  }
  const missing = needed.filter((k) => !status.get(k)?.ok);
  if (missing.length === 0) return false;
  const pkgs = [...new Set(missing.map((k) => status.get(k)?.pkg ?? k))];
  return `virtual microphone unavailable (missing ${missing.join(', ')}): apt-get install -y ${pkgs.join(' ')} (set ${REQUIRE_ENV}=1 to fail instead of skipping)`;
}

function parseDotenv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));

/** Starts a private virtual-mic daemon and resolves once recorders can use it. */
export async function startVirtualMic(options: StartVirtualMicOptions = {}): Promise<VirtualMic> {
  const { exportEnv = false, readyTimeoutMs = 10_000, keepDir = false } = options;
  // unix socket paths are limited to ~107 bytes: fall back to /tmp when TMPDIR is deep
  const base = tmpdir().length <= 60 ? tmpdir() : '/tmp';
  const dir = await mkdtemp(join(base, 'soundee-vmic-'));
  const scriptEnv: NodeJS.ProcessEnv = { ...process.env, SOUNDEE_VMIC_DIR: dir };

  // `run` execs the daemon in the foreground: the child *is* pulseaudio, and this process reaps it.
  const daemon = spawn('bash', [VIRTUAL_MIC_SCRIPT, 'run'], { env: scriptEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let daemonStderr = '';
  daemon.stderr!.setEncoding('utf8');
  daemon.stderr!.on('data', (s: string) => {
    if (daemonStderr.length < 64_000) daemonStderr += s;
  });
  const killOnExit = (): void => {
    daemon.kill('SIGKILL');
  };
  process.once('exit', killOnExit); // last resort if a test crashes without stop()
  const daemonExit = exited(daemon);

  const fail = async (message: string): Promise<never> => {
    daemon.kill('SIGKILL');
    await daemonExit;
    process.removeListener('exit', killOnExit);
    await rm(dir, { recursive: true, force: true });
    throw new Error(message);
  };

  const ready = runScript(['wait', String(Math.ceil(readyTimeoutMs / 1000))], scriptEnv, readyTimeoutMs + 5_000);
  const first = await Promise.race([
    ready.then((r) => ({ kind: 'ready' as const, r })),
    daemonExit.then(() => ({ kind: 'exit' as const })),
  ]);
  if (first.kind === 'exit') {
    await ready;
    return fail(`virtual mic daemon exited early (code ${daemon.exitCode}, signal ${daemon.signalCode}): ${daemonStderr.trim()}`);
  }
  if (first.r.code !== 0) return fail(`virtual mic not ready after ${readyTimeoutMs} ms: ${first.r.stderr.trim()} ${daemonStderr.trim()}`);

  const envResult = await runScript(['env', '--dotenv'], scriptEnv, 10_000);
  if (envResult.code !== 0) return fail(`virtual-mic.sh env failed: ${envResult.stderr.trim()}`);
  const env = Object.freeze(parseDotenv(envResult.stdout));
  if (!env.PULSE_SERVER) return fail(`virtual-mic.sh env printed no PULSE_SERVER: ${envResult.stdout}`);

  const saved = new Map<string, string | undefined>();
  if (exportEnv)
    for (const [k, v] of Object.entries(env)) {
      saved.set(k, process.env[k]);
      process.env[k] = v;
    }

  const players = new Set<Promise<unknown>>();
  let stopping: Promise<void> | null = null;

  const mic: VirtualMic = {
    dir,
    pid: daemon.pid!,
    env,
    childEnv: () => ({ ...process.env, ...env }),

    async play(path, { timeoutMs = 60_000 } = {}) {
      if (stopping) throw new Error('virtual mic is stopped');
      const p = runScript(['play', resolve(path)], scriptEnv, timeoutMs);
      players.add(p);
      try {
        const r = await p;
        if (r.code !== 0) throw new Error(`virtual mic play ${path} failed (${r.code ?? 'timeout'}): ${r.stderr.trim()}`);
      } finally {
        players.delete(p);
      }
    },

    log: () => readFile(join(dir, 'pulseaudio.log'), 'utf8').catch(() => ''),

    stop() {
      stopping ??= (async () => {
        // the script kills running players first, then the daemon (TERM, then KILL after 5 s)
        const r = await runScript(['stop'], scriptEnv, 20_000);
        await Promise.allSettled([...players]);
        const timer = setTimeout(() => daemon.kill('SIGKILL'), 5_000);
        await daemonExit;
        clearTimeout(timer);
        process.removeListener('exit', killOnExit);
        for (const [k, v] of saved) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
        if (!keepDir) await rm(dir, { recursive: true, force: true });
        if (r.code !== 0) throw new Error(`virtual-mic.sh stop failed (${r.code}): ${r.stderr.trim()}`);
      })();
      return stopping;
    },
  };
  return mic;
}
