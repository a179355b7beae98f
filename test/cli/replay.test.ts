import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { writeWav } from '../../src/audio/wav.ts';
import { buildProgram, main } from '../../src/cli/main.ts';
import { REPO_ROOT, fixture, noise, tempDir, writeTinyModel } from '../helpers/fixtures.ts';

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
  for (const opt of ['--json', '--realtime', '--port', '--model', '--backend', '--threshold']) assert.ok(help.includes(opt), opt);
});

test('replay --json prints one JSON line per 250 ms hop (a 2 s file at 44.1 kHz gives 5)', async () => {
  const r = await run(['replay', wav, '--json', '--model', model]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 5);
  lines.forEach((p, i) => {
    assert.equal(p.startMs, i * 250);
    assert.ok(['hum', 'hiss', 'unknown'].includes(p.label));
    assert.ok(p.confidence >= 0 && p.confidence <= 1);
    assert.deepEqual(Object.keys(p.scores).sort(), ['hiss', 'hum']);
  });
  assert.match(r.stderr, /using the wasm/);
  assert.match(r.stderr, /5 windows, 2\.00 s of audio/);
});

test('replay --port serves hello and every prediction to a WebSocket client', async () => {
  const got: Record<string, unknown>[] = [];
  let connected: Promise<void> | undefined;
  const r = await new Promise<{ code: number | null }>((resolve) => {
    const p = spawn(process.execPath, [join(REPO_ROOT, 'bin/soundee.js'), 'replay', wav, '--json', '--realtime', '--port', '0', '--model', model]);
    p.stderr.on('data', (d: Buffer) => {
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
  assert.equal(r.code, 0);
  assert.equal(got[0]?.type, 'hello');
  assert.deepEqual(got[0]?.classes, ['hum', 'hiss']);
  const preds = got.filter((m) => m.type === 'prediction');
  assert.deepEqual(
    preds.map((p) => p.index),
    [0, 1, 2, 3, 4],
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
  assert.equal(await main(['node', 'soundee', 'replay', wav, '--threshold', 'abc']), 2);
  assert.equal(await main(['node', 'soundee', 'frobnicate']), 1);
});
