/**
 * `soundee listen` end to end on a real (virtual) microphone: a private PulseAudio daemon whose default source
 * plays back what the test sends it (test/helpers/virtual-mic.ts), the real `soundee` process recording from it
 * with sox (node-record-lpcm16), and a real WebSocket client.
 *
 * The model is test/helpers/tilt-model.ts: a two-class model built so that windows of samples/fire.wav are
 * 'fire' and windows of samples/water.wav are 'water' (by the spectral tilt of the model input), so the labels
 * of the events are known while the bundled model is untrained. Everything else is the production path: sox,
 * the Framer and renderer with the model's feature config, batched inference, the level gate, the event layer,
 * the WebSocket server.
 *
 * Also in-process checks of the options, the missing-recorder error of the real binary, and `soundee devices`.
 * Run: node --import tsx --test test/cli/listen.test.ts (≈ 30 s; skipped without PulseAudio/sox unless
 * SOUNDEE_REQUIRE_VIRTUAL_MIC=1).
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { buildProgram } from '../../src/cli/main.ts';
import { listInputDevices, parseArecordList, parsePactlSources } from '../../src/cli/commands/devices.ts';
import { REPO_ROOT, tempDir, writeTinyModel } from '../helpers/fixtures.ts';
import { writeScene, writeTiltModel } from '../helpers/tilt-model.ts';
import { VIRTUAL_MIC, type VirtualMic, startVirtualMic, virtualMicSkipReason } from '../helpers/virtual-mic.ts';

type Msg = Record<string, unknown> & { type: string };

let tmp: Awaited<ReturnType<typeof tempDir>>;
let tiltModel: string;
before(async () => {
  tmp = await tempDir('soundee-listen-');
  tiltModel = join(tmp.dir, 'tilt');
  await writeTiltModel(tiltModel);
});
after(() => tmp.cleanup());

/** Messages arriving over time, with waiting for one that matches. */
class Inbox {
  readonly all: Msg[] = [];
  private waiters: Array<{ pred: (m: Msg) => boolean; resolve: (m: Msg) => void }> = [];
  push(m: Msg): void {
    this.all.push(m);
    this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
  }
  /** The first message (already here or still to come) after index `from` that matches. */
  waitFor(pred: (m: Msg) => boolean, timeoutMs: number, what: string, from = 0): Promise<Msg> {
    const have = this.all.slice(from).find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got: ${this.summary()}`)),
        timeoutMs,
      );
      this.waiters.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) });
    });
  }
  summary(): string {
    return (
      this.all
        .filter((m) => m.type !== 'prediction')
        .map((m) => JSON.stringify(m))
        .join('\n') + `\n(${this.all.filter((m) => m.type === 'prediction').length} predictions)`
    );
  }
}

interface Listener {
  proc: ChildProcessWithoutNullStreams;
  stdout: Inbox;
  ws: Inbox;
  client: WebSocket;
  wsClosed: Promise<void>;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the real `soundee listen --port 0 --json` on the virtual mic and connects a WebSocket client. */
async function startListen(mic: VirtualMic, args: string[]): Promise<Listener> {
  const proc = spawn(process.execPath, [join(REPO_ROOT, 'bin/soundee.js'), 'listen', '--port', '0', '--json', ...args], {
    env: { ...mic.childEnv(), SOUNDEE_BACKEND: 'wasm' },
  });
  const stdout = new Inbox();
  const ws = new Inbox();
  let err = '';
  let buf = '';
  proc.stdout.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) if (l.trim()) stdout.push(JSON.parse(l) as Msg);
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.on('close', (code, signal) => r({ code, signal })),
  );
  const port = await new Promise<string>((resolve, reject) => {
    proc.stderr.setEncoding('utf8').on('data', (s: string) => {
      err += s;
      const m = /ws:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (m) resolve(m[1]!);
    });
    void exit.then(({ code }) => reject(new Error(`soundee listen exited (${code}) before serving: ${err}`)));
    setTimeout(() => reject(new Error(`soundee listen did not announce its port within 30 s: ${err}`)), 30_000).unref();
  });
  const client = new WebSocket(`ws://127.0.0.1:${port}/`);
  client.on('message', (d) => ws.push(JSON.parse(d.toString()) as Msg));
  const wsClosed = new Promise<void>((r) => client.on('close', () => r()));
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  return { proc, stdout, ws, client, wsClosed, stderr: () => err, exit };
}

/** Last resort after a failure: SIGTERM (so that soundee stops its recorder), SIGKILL after 5 s. */
async function stopListener(l: Listener): Promise<void> {
  l.client.terminate();
  if (l.proc.exitCode !== null || l.proc.signalCode !== null) return;
  l.proc.kill('SIGTERM');
  const t = setTimeout(() => l.proc.kill('SIGKILL'), 5000);
  await l.exit;
  clearTimeout(t);
}

/** Alive and not a zombie. */
const running = (pid: number) => existsSync(`/proc/${pid}`) && !/^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
const isRecorder = (state: string) => (m: Msg) => m.type === 'status' && m.kind === 'recorder' && m.state === state;
const isEvent = (label: string, phase: string) => (m: Msg) => m.type === 'event' && m.label === label && m.phase === phase;

const skip = await virtualMicSkipReason({ recorders: ['sox'] });

describe('soundee listen on the virtual microphone', { skip, timeout: 90_000 }, () => {
  let mic: VirtualMic;
  let scene: string;
  let fire: string;
  before(async () => {
    mic = await startVirtualMic();
    scene = join(tmp.dir, 'fire-then-water.wav');
    // 0.5 s of silence, 3 s of fire, 2 s of silence, 3 s of water, 1.25 s of silence. The gap is long enough for
    // several wholly silent windows, which end the fire (with 1.5 s, two silent windows and the smoothing over
    // four would bridge it, and fire's fading windows, which this model calls water, would join the water event)
    await writeScene(scene, [0.5, 'fire', 2, 'water', 1.25]);
    fire = join(tmp.dir, 'fire.wav');
    await writeScene(fire, ['fire']);
  });
  after(() => mic?.stop());

  test('a recording played into the mic gives a WebSocket client start and end events with the right labels; SIGINT exits 0', {
    timeout: 60_000,
  }, async (t) => {
    const l = await startListen(mic, ['--model', tiltModel]);
    try {
      // the recorder runs and the idle (dithered, ≈ -96 dBFS) mic is "nothing heard": labelled unknown by the level gate
      await l.ws.waitFor((m) => m.type === 'prediction', 20_000, 'a first prediction');
      const idle = l.ws.all.filter((m) => m.type === 'prediction');
      assert.ok(
        idle.every((p) => p.label === 'unknown' && (p.rmsDb === null || (p.rmsDb as number) < -60)),
        JSON.stringify(idle),
      );
      // the recorder started before the client connected: its pid is in the --json output
      const started = await l.stdout.waitFor(isRecorder('recorder-started'), 1000, 'recorder-started');
      const pid = started.pid as number;
      assert.ok(running(pid), 'the recorder runs');

      const t0 = performance.now();
      await mic.play(scene);
      // the water's end comes once its windows have gone quiet (≈ 1 s of window + smoothing after the sound)
      await l.ws.waitFor(isEvent('water', 'end'), 8000, 'water end');
      t.diagnostic(`water ended ${((performance.now() - t0) / 1000).toFixed(1)} s after play() started`);

      const events = l.ws.all.filter((m) => m.type === 'event');
      t.diagnostic(
        l.ws.all
          .filter((m) => m.type === 'prediction')
          .map(
            (p) =>
              `${p.startMs}:${String(p.label).slice(0, 4)}${Math.round((p.confidence as number) * 9)}@${p.rmsDb === null ? '-inf' : Math.round(p.rmsDb as number)}`,
          )
          .join(' '),
      );
      t.diagnostic(events.map((e) => JSON.stringify(e)).join('\n'));
      assert.deepEqual(
        events.map((e) => `${e.label} ${e.phase}`),
        ['fire start', 'fire end', 'water start', 'water end'],
        l.ws.summary(),
      );
      const [fs, fe, ws, we] = events as [Msg, Msg, Msg, Msg];
      // events carry server ids (protocol v1), in order
      assert.ok((fe.id as number) > (fs.id as number) && (we.id as number) > (ws.id as number), JSON.stringify(events));
      // times (stream ms): fire and water lasted 3 s each and started 5 s apart; an event spans the windows
      // that hold enough of the sound, so each edge moves by up to a window (1 s)
      const dur = (e: Msg) => (e.endMs as number) - (e.startMs as number);
      assert.equal(fe.startMs, fs.startMs);
      assert.ok(dur(fe) >= 3000 && dur(fe) <= 5250, `fire lasted ${dur(fe)} ms`);
      assert.ok(dur(we) >= 3000 && dur(we) <= 5250, `water lasted ${dur(we)} ms`);
      const gap = (ws.startMs as number) - (fs.startMs as number);
      assert.ok(gap >= 4000 && gap <= 6000, `water started ${gap} ms after fire`);
      assert.ok((fe.peakConfidence as number) > 0.9 && (we.meanConfidence as number) > 0.8, JSON.stringify(events));
      // fire and water windows were labelled so, between them and after them the gate said unknown
      const labels = l.ws.all.filter((m) => m.type === 'prediction').map((p) => p.label);
      assert.ok(labels.filter((x) => x === 'fire').length >= 8 && labels.filter((x) => x === 'water').length >= 8, labels.join(' '));

      // stdout carried the same, each line with a type
      await l.stdout.waitFor(isEvent('water', 'end'), 2000, 'water end on stdout');
      assert.deepEqual(
        l.stdout.all.filter((m) => m.type === 'event').map((e) => `${e.label} ${e.phase}`),
        ['fire start', 'fire end', 'water start', 'water end'],
      );
      assert.ok(l.stdout.all.every((m) => ['prediction', 'event', 'status'].includes(m.type)));
      assert.ok(l.stdout.all.some((m) => m.type === 'status' && m.kind === 'stream' && m.state === 'started'));

      l.proc.kill('SIGINT');
      const { code } = await l.exit;
      assert.equal(code, 0, l.stderr());
      assert.match(l.stderr(), /SIGINT: stopping/);
      assert.ok(
        l.stdout.all.some((m) => m.type === 'status' && m.kind === 'stream' && m.state === 'ended'),
        'a final stream status',
      );
      await l.wsClosed; // the server closed, the client was told
      assert.equal(running(pid), false, `recorder ${pid} left behind`);
    } finally {
      await stopListener(l);
    }
  });

  test('Ctrl-C in the middle of a sound: the open event ends with reason stopped before the server closes', {
    timeout: 60_000,
  }, async () => {
    const l = await startListen(mic, ['--model', tiltModel]);
    try {
      await l.ws.waitFor((m) => m.type === 'prediction', 20_000, 'a first prediction');
      const playing = mic.play(fire);
      await l.ws.waitFor(isEvent('fire', 'start'), 15_000, 'fire start');
      l.proc.kill('SIGINT');
      const end = await l.ws.waitFor(isEvent('fire', 'end'), 10_000, 'fire end');
      assert.equal(end.reason, 'stopped', JSON.stringify(end));
      assert.equal((await l.exit).code, 0, l.stderr());
      await l.wsClosed;
      const printed = l.stdout.all.filter((m) => m.type === 'event').map((e) => `${e.label} ${e.phase} ${e.reason ?? ''}`.trim());
      assert.deepEqual(printed, ['fire start', 'fire end stopped']);
      await playing.catch(() => undefined);
    } finally {
      await stopListener(l);
    }
  });

  test('killing the recorder mid-stream: a restart is reported, listening resumes, the WebSocket client stays connected', {
    timeout: 60_000,
  }, async (t) => {
    const l = await startListen(mic, ['--model', tiltModel]);
    try {
      // the recorder starts before the client connects: its pid is in the --json output
      const first = await l.stdout.waitFor(isRecorder('recorder-started'), 20_000, 'recorder-started');
      const oldPid = first.pid as number;
      await l.ws.waitFor((m) => m.type === 'prediction' && (m.index as number) >= 2, 20_000, 'three predictions');
      let closedEarly = false;
      l.client.on('close', () => (closedEarly = true));

      const before = l.ws.all.length;
      process.kill(oldPid, 'SIGKILL');
      const stopped = await l.ws.waitFor(isRecorder('recorder-stopped'), 5000, 'recorder-stopped', before);
      assert.equal((stopped.error as { code: string }).code, 'ERR_RECORDER_EXIT');
      assert.match(stopped.message as string, /sox was killed by SIGKILL/);
      const restarting = await l.ws.waitFor(isRecorder('restarting'), 1000, 'restarting', before);
      assert.deepEqual([restarting.attempt, restarting.delayMs], [1, 500]);
      const again = await l.ws.waitFor(isRecorder('recorder-started'), 5000, 'a new recorder', before);
      const newPid = again.pid as number;
      assert.notEqual(newPid, oldPid);
      const resumed = await l.ws.waitFor(isRecorder('listening'), 5000, 'listening again', before);
      t.diagnostic(`restart: ${JSON.stringify(resumed)}`);
      assert.ok(
        (resumed.gapMs as number) >= 300 && (resumed.gapMs as number) < 3000,
        `the outage was filled with silence: ${resumed.gapMs} ms`,
      );
      assert.equal(running(oldPid), false, 'the killed recorder was reaped (no zombie)');

      // the new recorder hears the mic: play a sound and see it classified
      const afterRestart = l.ws.all.length;
      await mic.play(fire);
      await l.ws.waitFor(isEvent('fire', 'start'), 5000, 'fire heard after the restart', afterRestart);
      const preds = l.ws.all.filter((m) => m.type === 'prediction');
      const indices = preds.map((p) => p.index as number);
      assert.deepEqual(
        indices,
        indices.map((_, i) => i),
        'one continuous stream: window numbers go on across the restart',
      );
      assert.equal(closedEarly, false, 'the client stayed connected');
      assert.equal(l.client.readyState, WebSocket.OPEN);

      l.proc.kill('SIGTERM');
      const { code } = await l.exit;
      assert.equal(code, 0, l.stderr());
      // the open fire event was ended on shutdown
      assert.ok(l.stdout.all.some(isEvent('fire', 'end')), l.stdout.summary());
      assert.equal(running(newPid), false);
    } finally {
      await stopListener(l);
    }
  });

  test('soundee devices lists the virtual mic as the default PulseAudio source', { timeout: 20_000 }, async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, [join(REPO_ROOT, 'bin/soundee.js'), 'devices', '--json'], { env: mic.childEnv() });
      let s = '';
      p.stdout.on('data', (d: Buffer) => (s += d.toString()));
      p.on('close', (code) => (code === 0 ? resolve(s) : reject(new Error(`exit ${code}`))));
    });
    const { devices } = JSON.parse(out) as { devices: Array<{ name: string; isDefault: boolean; monitor: boolean; listen: string }> };
    const micDev = devices.find((d) => d.name === VIRTUAL_MIC.source);
    assert.ok(micDev, out);
    assert.equal(micDev.isDefault, true);
    assert.equal(micDev.monitor, false);
    assert.equal(micDev.listen, 'soundee listen');
    assert.equal(devices.find((d) => d.name === `${VIRTUAL_MIC.sink}.monitor`)?.monitor, true);
  });
});

test('listen --help lists its options', () => {
  const help = buildProgram()
    .commands.find((c) => c.name() === 'listen')!
    .helpInformation();
  for (const opt of [
    '--device',
    '--recorder',
    '--model',
    '--port',
    '--host',
    '--json',
    '--smooth',
    '--min-duration',
    '--cooldown',
    '--background',
    '--silence-db',
    '--event-threshold',
    '--backend',
    '--capture-rate',
  ])
    assert.ok(help.includes(opt), opt);
});

/** Runs the real binary to completion (killed after 30 s: these commands must fail fast). */
function runSoundee(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(REPO_ROOT, 'bin/soundee.js'), ...args], { env });
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('listen without the recorder installed fails at once, saying what to install', async () => {
  // an empty PATH: no sox (node itself is run by its full path)
  const empty = join(tmp.dir, 'empty-bin');
  await mkdir(empty, { recursive: true });
  const r = await runSoundee(['listen', '--model', tiltModel], { ...process.env, PATH: empty });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /"sox" is not installed/);
  assert.match(r.stderr, /apt-get install sox libsox-fmt-all/);
  assert.match(r.stderr, /brew install sox/);
  assert.doesNotMatch(r.stderr, /backend/, 'fails before loading the model');
});

test('listen with no audio input stops after a few failed starts, saying which devices exist or what to install', async () => {
  // no sound server, and ALSA asked for a device that does not exist: sox fails at every start
  const env = { ...process.env, AUDIODRIVER: 'alsa', PULSE_SERVER: 'unix:/nonexistent/soundee-test', SOUNDEE_BACKEND: 'wasm' };
  const r = await runSoundee(['listen', '--model', tiltModel, '--device', 'soundee-no-such-device'], env);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /no audio input: sox \(device soundee-no-such-device\) failed 3 times in a row without delivering audio/);
  assert.match(r.stderr, /soundee devices/);
  assert.match(r.stderr, /--device soundee-no-such-device could not be opened|no input device was found/);
  assert.equal((r.stderr.match(/restarting sox/g) ?? []).length, 2, 'two restarts, then it gives up');
  assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
});

test('bad event options are refused before recording (exit 2)', async () => {
  const tiny = join(tmp.dir, 'tiny');
  await writeTinyModel(tiny, ['hum', 'hiss']);
  const bg = await runSoundee(['listen', '--model', tiny, '--background', 'rain', '--backend', 'wasm'], process.env);
  assert.equal(bg.code, 2, bg.stderr);
  assert.match(bg.stderr, /background class\(es\) "rain" not among the model's classes \(hum, hiss\)/);
  const th = await runSoundee(['listen', '--model', tiny, '--event-threshold', 'hum=2'], process.env);
  assert.equal(th.code, 2);
  assert.match(th.stderr, /--event-threshold takes P or CLASS=P/);
});

test('device listings are parsed from pactl and arecord output', () => {
  const pactl = `Source #0\n\tState: IDLE\n\tName: alsa_output.pci.monitor\n\tDescription: Monitor of Built-in Audio\n\tMonitor of Sink: alsa_output.pci\nSource #1\n\tState: RUNNING\n\tName: alsa_input.usb-mic\n\tDescription: USB Microphone Mono\n\tMonitor of Sink: n/a\n`;
  assert.deepEqual(
    parsePactlSources(pactl, 'alsa_output.pci.monitor').map((d) => [d.name, d.description, d.isDefault, d.monitor, d.listen]),
    [
      ['alsa_output.pci.monitor', 'Monitor of Built-in Audio', true, true, 'soundee listen'],
      ['alsa_input.usb-mic', 'USB Microphone Mono', false, false, 'AUDIODRIVER=pulseaudio soundee listen --device alsa_input.usb-mic'],
    ],
  );
  const arecord = `**** List of CAPTURE Hardware Devices ****\ncard 1: Device [USB PnP Sound Device], device 0: USB Audio [USB Audio]\n  Subdevices: 1/1\n  Subdevice #0: subdevice #0\n`;
  assert.deepEqual(
    parseArecordList(arecord).map((d) => [d.name, d.description, d.listen]),
    [['plughw:1,0', 'USB PnP Sound Device: USB Audio', 'soundee listen --recorder arecord --device plughw:1,0']],
  );
  assert.deepEqual(parseArecordList('arecord: device_list:274: no soundcards found...'), []);
});

test('devices: what cannot be listed is explained', async () => {
  const mac = await listInputDevices('darwin', () => Promise.reject(new Error('nothing is run on macOS')));
  assert.deepEqual(mac.devices, []);
  assert.match(mac.notes.join(' '), /macOS: sox records from the default input/);
  const win = await listInputDevices('win32', () => Promise.reject(new Error('nothing is run on Windows')));
  assert.match(win.notes.join(' '), /Windows: .*cannot list them/);
  const bare = await listInputDevices('linux', async () => ({ ok: false, stdout: '', stderr: '', missing: true }));
  assert.deepEqual(bare.devices, []);
  assert.match(bare.notes.join(' '), /pactl is not installed \(apt-get install pulseaudio-utils\)/);
  assert.match(bare.notes.join(' '), /arecord is not installed \(apt-get install alsa-utils\)/);
});
