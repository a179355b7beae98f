import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { writeWav } from '../../src/audio/wav.ts';
import { buildProgram, main } from '../../src/cli/main.ts';
import { REPO_ROOT, fixture, noise, tempDir, writeTinyModel } from '../helpers/fixtures.ts';
import { writeScene, writeTiltModel } from '../helpers/tilt-model.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let model: string;
let wav: string;
before(async () => {
  tmp = await tempDir();
  model = join(tmp.dir, 'model');
  await writeTinyModel(model, ['hum', 'hiss']);
  wav = join(tmp.dir, 'noise-2s.wav');
  await writeWav(wav, noise(2, 44100), 44100);
});
after(() => tmp.cleanup());

/** Runs the real binary; resolves with exit code and output. */
function run(args: string[], onStdoutLine?: (line: string) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(REPO_ROOT, 'bin/soundee.js'), ...args], { env: { ...process.env, SOUNDEE_BACKEND: 'wasm' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      const s = d.toString();
      stdout += s;
      if (onStdoutLine) for (const l of s.split('\n').filter(Boolean)) onStdoutLine(l);
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('help lists the commands and the replay options truthfully', () => {
  const program = buildProgram();
  const replay = program.commands.find((c) => c.name() === 'replay');
  assert.ok(replay);
  const help = replay.helpInformation();
  for (const opt of [
    '--json',
    '--realtime',
    '--port',
    '--model',
    '--backend',
    '--threshold',
    '--smooth',
    '--event-threshold',
    '--min-duration',
    '--cooldown',
    '--background',
    '--silence-db',
  ])
    assert.ok(help.includes(opt), opt);
  assert.match(help, /event settings/, 'says that replay is how to try event settings');
});

test('replay --json prints one prediction line per 250 ms hop (a 2 s file at 44.1 kHz gives 5)', async () => {
  const r = await run(['replay', wav, '--json', '--model', model]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown> & { type: string });
  assert.ok(
    lines.every((m) => m.type === 'prediction' || m.type === 'event'),
    'every line says what it is',
  );
  const preds = lines.filter((m) => m.type === 'prediction');
  assert.equal(preds.length, 5);
  preds.forEach((p, i) => {
    assert.equal(p.startMs, i * 250);
    assert.ok(['hum', 'hiss', 'unknown'].includes(p.label as string));
    assert.ok((p.confidence as number) >= 0 && (p.confidence as number) <= 1);
    assert.deepEqual(Object.keys(p.scores as object).sort(), ['hiss', 'hum']);
  });
  assert.match(r.stderr, /using the wasm/);
  assert.match(r.stderr, /5 windows, 2\.00 s of audio/);
});

test('replay detects events as listen does: fire, silence, water gives fire start/end and water start/end', {
  timeout: 60_000,
}, async () => {
  const tilt = join(tmp.dir, 'tilt'); // calls windows of fire.wav 'fire' and of water.wav 'water' (see tilt-model.ts)
  await writeTiltModel(tilt);
  const scene = join(tmp.dir, 'fire-silence-water.wav');
  // 2 s of silence: several wholly silent windows between the two sounds, which the level gate calls nothing
  await writeScene(scene, ['fire', 2, 'water']);
  const r = await run(['replay', scene, '--json', '--model', tilt]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown> & { type: string });
  const preds = lines.filter((m) => m.type === 'prediction');
  const events = lines.filter((m) => m.type === 'event');
  assert.equal(preds.length + events.length, lines.length);
  assert.deepEqual(
    events.map((e) => `${e.label} ${e.phase}`),
    ['fire start', 'fire end', 'water start', 'water end'],
    r.stdout,
  );
  type Ev = { startMs: number; endMs: number };
  const [fs, fe, ws, we] = events as unknown as [Ev, Ev, Ev, Ev];
  assert.equal(fs.startMs, 0);
  assert.equal(fe.startMs, fs.startMs);
  assert.ok(fe.endMs >= 3000 && fe.endMs <= 4250, `fire ended at ${fe.endMs} ms`);
  assert.ok(ws.startMs > fe.endMs && ws.startMs >= 4000, `water started at ${ws.startMs} ms`);
  assert.equal(we.startMs, ws.startMs);
  assert.equal(we.endMs, preds.at(-1)!.endMs, 'the open water event ends with the file');
  // no server: no ids; the silent windows were labelled unknown by the level gate
  assert.ok(events.every((e) => e.id === undefined));
  assert.ok(
    preds.some((p) => p.label === 'unknown' && p.rmsDb === null),
    'digital silence is gated',
  );
  assert.match(r.stderr, /, 2 events$/m);

  // the table shows the same events, and quiet rows for the silence
  const table = await run(['replay', scene, '--model', tilt]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^▶ fire started at 0\.00 s \(peak 1\.00\)$/m);
  assert.match(table.stdout, /^■ fire ended: 0\.00 s–/m);
  assert.match(table.stdout, /^▶ water started at /m);
  assert.match(table.stdout, /^■ water ended: /m);
  assert.match(table.stdout, /\(quiet\) +digital silence/);
});

test('replay --port serves hello, every prediction and the events to a WebSocket client, and keeps serving after the end until Ctrl-C', async () => {
  const got: Record<string, unknown>[] = [];
  const lateHello: Record<string, unknown>[] = [];
  let stdout = '';
  let stderr = '';
  let connected: Promise<void> | undefined;
  const r = await new Promise<{ code: number | null }>((resolve) => {
    const p = spawn(process.execPath, [
      join(REPO_ROOT, 'bin/soundee.js'),
      'replay',
      wav,
      '--json',
      '--realtime',
      '--port',
      '0',
      '--model',
      model,
    ]);
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // after the end of the file the server stays up: a client can still connect; Ctrl-C stops it
      if (/end of noise-2s\.wav; still serving on port \d+ \(Ctrl-C to stop\)/.test(stderr) && !p.killed)
        void connected?.then(async () => {
          const late = new WebSocket(/ws:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr)![0]);
          const hello = await new Promise<Record<string, unknown>>((ok) => late.once('message', (m) => ok(JSON.parse(m.toString()))));
          lateHello.push(hello);
          late.close();
          p.kill('SIGINT');
        });
      // connect as soon as the server announces its port (the first window completes 1 s later)
      const m = /ws:\/\/127\.0\.0\.1:(\d+)\//.exec(d.toString());
      if (m && !connected) {
        const ws = new WebSocket(`ws://127.0.0.1:${m[1]}/`);
        ws.on('message', (data) => got.push(JSON.parse(data.toString())));
        ws.on('error', () => {});
        connected = new Promise((ok) => ws.on('open', () => ok()));
      }
    });
    p.on('close', (code) => resolve({ code }));
  });
  assert.ok(connected, 'the server announced its port');
  await connected;
  assert.equal(r.code, 0, stderr);
  assert.equal(got[0]?.type, 'hello');
  assert.deepEqual(got[0]?.classes, ['hum', 'hiss']);
  assert.deepEqual(got[0]?.streams, ['noise-2s.wav'], 'hello names the file, not its path');
  assert.equal(lateHello[0]?.type, 'hello', 'a client connecting after the end of the file is still served');
  const preds = got.filter((m) => m.type === 'prediction');
  assert.deepEqual(
    preds.map((p) => p.index),
    [0, 1, 2, 3, 4],
  );
  // the events (this untrained model hears 2 s of noise as a little of each class) go out with ids, as printed
  const printed = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((m) => m.type === 'event');
  const served = got.filter((m) => m.type === 'event');
  assert.ok(served.length > 0, stdout);
  assert.deepEqual(served, printed);
  assert.deepEqual(
    served.map((e) => e.id),
    served.map((_, i) => i + 1),
  );
});

test('bad input exits non-zero with one clear line', async () => {
  const notWav = await run(['replay', fixture('not-a-wav.wav'), '--model', model]);
  assert.equal(notWav.code, 1);
  assert.match(notWav.stderr, /soundee: error: .*not-a-wav\.wav: not a WAV file/);
  assert.doesNotMatch(notWav.stderr, /at .*\.ts:\d+/, 'no stack trace');
  const noModel = await run(['replay', wav, '--model', join(tmp.dir, 'nope')]);
  assert.equal(noModel.code, 1);
  assert.match(noModel.stderr, /model metadata not found/);
  // a port already taken: one line saying so, no stack trace
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const port = (taken.address() as { port: number }).port;
    const busy = await run(['replay', wav, '--model', model, '--port', String(port)]);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, new RegExp(`soundee: error: port ${port} on 127\\.0\\.0\\.1 is already in use; choose another with --port`));
    assert.doesNotMatch(busy.stderr, /at .*\.ts:\d+/, 'no stack trace');
  } finally {
    taken.close();
  }
  assert.equal(await main(['node', 'soundee', 'replay', wav, '--threshold', 'abc']), 2);
  assert.equal(await main(['node', 'soundee', 'frobnicate']), 1);
});
