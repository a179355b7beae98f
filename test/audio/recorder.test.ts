/**
 * The node-record-lpcm16 wrapper against fake recorder programs (shell scripts named sox/arecord on a
 * temporary PATH): raw PCM out, errors as RecorderErrors with codes, teardown that ends the process
 * (SIGKILL when SIGTERM is ignored) and leaves no zombie, a missing binary caught before spawning.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { RecorderError, exited, findRecorder, recordPcm, toRecorderError } from '../../src/audio/recorder.ts';
import { tempDir } from '../helpers/fixtures.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let bin: string;
const savedEnv = { PATH: process.env.PATH, FAKE_REC_MODE: process.env.FAKE_REC_MODE, FAKE_REC_ARGS: process.env.FAKE_REC_ARGS };

/** A fake recorder: writes "ABCD" every 20 ms until killed; FAKE_REC_MODE changes that; FAKE_REC_ARGS gets its argv and AUDIODEV. */
const FAKE = `#!/bin/sh
if [ -n "$FAKE_REC_ARGS" ]; then printf '%s\\n' "$@" > "$FAKE_REC_ARGS"; echo "AUDIODEV=$AUDIODEV" >> "$FAKE_REC_ARGS"; fi
case "$FAKE_REC_MODE" in
  fail) echo "$(basename "$0") FAIL formats: can't open input  \\\`nosuch': no such device" >&2; exit 2 ;;
  end) printf 'ABCDEFGH'; exit 0 ;;
  ignore-term) trap '' TERM ;;
esac
while :; do printf 'ABCD'; sleep 0.02; done
`;

before(async () => {
  tmp = await tempDir('soundee-rec-');
  bin = join(tmp.dir, 'bin');
  await mkdir(bin);
  for (const name of ['sox', 'rec', 'arecord']) {
    await writeFile(join(bin, name), FAKE);
    await chmod(join(bin, name), 0o755);
  }
  process.env.PATH = `${bin}:${process.env.PATH}`; // the recorder is spawned with process.env
});
after(async () => {
  for (const [k, v] of Object.entries(savedEnv))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  await tmp.cleanup();
});

const mode = (m: string | undefined) => (m ? (process.env.FAKE_REC_MODE = m) : delete process.env.FAKE_REC_MODE);
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));

test('a missing recorder is refused before spawning, with a code and what to install on each platform', async () => {
  assert.throws(
    () => findRecorder('sox', { PATH: join(tmp.dir, 'nowhere') }),
    (e: unknown) => {
      assert.ok(e instanceof RecorderError && e instanceof Error);
      assert.equal(e.code, 'ERR_RECORDER_MISSING');
      assert.match(e.message, /"sox" is not installed/);
      assert.match(e.message, /apt-get install sox libsox-fmt-all/);
      assert.match(e.message, /brew install sox/);
      assert.match(e.message, /Windows: install SoX .* add its folder to PATH/);
      return true;
    },
  );
  assert.throws(() => findRecorder('arecord', { PATH: '' }), { code: 'ERR_RECORDER_MISSING', message: /apt-get install alsa-utils/ });
  assert.throws(() => findRecorder('parec', { PATH: bin }), {
    code: 'ERR_RECORDER_OPTIONS',
    message: /unknown recorder "parec"; expected one of sox, rec, arecord/,
  });
  assert.equal(findRecorder('sox', { PATH: `/nonexistent:${bin}` }), join(bin, 'sox'));
  // Windows looks for PATHEXT extensions
  await writeFile(join(tmp.dir, 'sox.EXE'), '');
  assert.equal(findRecorder('sox', { PATH: tmp.dir, PATHEXT: '.COM;.EXE' }, 'win32'), join(tmp.dir, 'sox.EXE'));

  // through the Observable: the error arrives on subscribe, nothing is spawned
  const saved = process.env.PATH;
  process.env.PATH = join(tmp.dir, 'nowhere');
  let spawned = false;
  try {
    await assert.rejects(firstValueFrom(recordPcm({ sampleRateHz: 16000, onSpawn: () => (spawned = true) })), {
      code: 'ERR_RECORDER_MISSING',
    });
  } finally {
    process.env.PATH = saved;
  }
  assert.equal(spawned, false);
});

test("node-record-lpcm16's string errors become RecorderErrors with stable codes", () => {
  const e = toRecorderError(
    'sox has exited with error code 2.\n\nEnable debugging with the environment variable DEBUG=record.',
    'sox',
    "sox FAIL formats: can't open input `hw:9'",
  );
  assert.ok(e instanceof Error);
  assert.equal(e.code, 'ERR_RECORDER_EXIT');
  assert.equal(e.details.exitCode, 2);
  assert.match(e.message, /^sox exited with code 2: sox FAIL formats: can't open input `hw:9'$/);
  assert.equal(e.cause, 'sox has exited with error code 2.\n\nEnable debugging with the environment variable DEBUG=record.');
  assert.equal(toRecorderError('arecord has exited with error code null.', 'arecord').details.exitCode, null);
  assert.equal(toRecorderError('something odd', 'sox').code, 'ERR_RECORDER');
  assert.equal(toRecorderError(Object.assign(new Error('spawn sox ENOENT'), { code: 'ENOENT' }), 'sox').code, 'ERR_RECORDER_MISSING');
  assert.equal(toRecorderError(Object.assign(new Error('spawn sox EACCES'), { code: 'EACCES' }), 'sox').code, 'ERR_RECORDER_SPAWN');
  assert.equal(toRecorderError(new Error('No such recorder found: foo'), 'foo').code, 'ERR_RECORDER_OPTIONS');
});

test('records raw PCM (no WAV header) with the raw-format command line; unsubscribing ends the process (SIGTERM) and reaps it', async () => {
  mode(undefined);
  const argsFile = join(tmp.dir, 'args-sox');
  process.env.FAKE_REC_ARGS = argsFile;
  let child: ChildProcess | undefined;
  try {
    const chunks = await lastValueFrom(
      recordPcm({ sampleRateHz: 16000, device: 'mic-1', onSpawn: (c) => (child = c) }).pipe(take(3), toArray()),
    );
    assert.ok(child?.pid);
    assert.equal(Buffer.concat(chunks).toString('latin1').slice(0, 12), 'ABCDABCDABCD', 'bytes passed through untouched');
    assert.ok(chunks.every((c) => c instanceof Uint8Array));
    await exited(child!);
    assert.equal(child!.signalCode, 'SIGTERM');
    assert.equal(alive(child!.pid!), false, 'no process or zombie left');
    const args = (await readFile(argsFile, 'utf8')).split('\n');
    const after = (flag: string) => args[args.indexOf(flag) + 1];
    assert.equal(after('--type'), 'raw');
    assert.equal(after('--rate'), '16000');
    assert.equal(after('--channels'), '1');
    assert.equal(after('--bits'), '16');
    assert.equal(after('--encoding'), 'signed-integer');
    assert.ok(args.includes('AUDIODEV=mic-1'), 'sox gets the device through AUDIODEV');
  } finally {
    delete process.env.FAKE_REC_ARGS;
  }
});

test('arecord gets -t raw -f S16_LE and -D for the device', async () => {
  const argsFile = join(tmp.dir, 'args-arecord');
  process.env.FAKE_REC_ARGS = argsFile;
  let child: ChildProcess | undefined;
  try {
    await firstValueFrom(recordPcm({ sampleRateHz: 22050, recorder: 'arecord', device: 'plughw:1', onSpawn: (c) => (child = c) }));
    await exited(child!);
    const args = (await readFile(argsFile, 'utf8')).split('\n');
    const after = (flag: string) => args[args.indexOf(flag) + 1];
    assert.deepEqual([after('-t'), after('-f'), after('-r'), after('-c'), after('-D')], ['raw', 'S16_LE', '22050', '1', 'plughw:1']);
  } finally {
    delete process.env.FAKE_REC_ARGS;
  }
});

test('a recorder that ignores SIGTERM is SIGKILLed after the grace period', async () => {
  mode('ignore-term');
  let child: ChildProcess | undefined;
  try {
    await firstValueFrom(recordPcm({ sampleRateHz: 16000, killTimeoutMs: 300, onSpawn: (c) => (child = c) }));
    const t0 = performance.now();
    await exited(child!);
    const tookMs = performance.now() - t0;
    assert.equal(child!.signalCode, 'SIGKILL');
    assert.ok(tookMs >= 250, `killed after the grace period, not before (${tookMs.toFixed(0)} ms)`);
    assert.equal(alive(child!.pid!), false);
  } finally {
    mode(undefined);
  }
});

test('a failing recorder errors with ERR_RECORDER_EXIT, the exit code and its stderr', async () => {
  mode('fail');
  try {
    await assert.rejects(lastValueFrom(recordPcm({ sampleRateHz: 16000 })), (e: unknown) => {
      assert.ok(e instanceof RecorderError);
      assert.equal(e.code, 'ERR_RECORDER_EXIT');
      assert.equal(e.details.exitCode, 2);
      assert.match(e.message, /^sox exited with code 2: sox FAIL formats: can't open input {2}`nosuch': no such device$/);
      assert.match(String(e.cause), /has exited with error code 2/, "node-record-lpcm16's own string is kept as the cause");
      return true;
    });
  } finally {
    mode(undefined);
  }
});

test('a recorder that exits normally completes the Observable after its last data', async () => {
  mode('end');
  try {
    const chunks = await lastValueFrom(recordPcm({ sampleRateHz: 16000 }).pipe(toArray()));
    assert.equal(Buffer.concat(chunks).toString('latin1'), 'ABCDEFGH');
  } finally {
    mode(undefined);
  }
});

test('a recorder killed from outside errors with the signal', async () => {
  let child: ChildProcess | undefined;
  const done = lastValueFrom(recordPcm({ sampleRateHz: 16000, onSpawn: (c) => (child = c) }));
  await new Promise((r) => setTimeout(r, 100));
  child!.kill('SIGKILL');
  await assert.rejects(done, { code: 'ERR_RECORDER_EXIT', message: /^sox was killed by SIGKILL/ });
  assert.equal(alive(child!.pid!), false);
});

test('rec cannot name a device (node-record-lpcm16 ignores it): refused with ERR_RECORDER_OPTIONS', async () => {
  await assert.rejects(firstValueFrom(recordPcm({ sampleRateHz: 16000, recorder: 'rec', device: 'x' })), {
    code: 'ERR_RECORDER_OPTIONS',
    message: /--recorder sox/,
  });
});
