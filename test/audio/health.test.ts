/**
 * Input health, restart back-off and the stream clock (pure, on made-up times), and the supervised live
 * microphone on a virtual clock (RxJS TestScheduler) with a fake recorder: restarts with back-off after an
 * exit or a stall, status reports, one continuous stream, teardown.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { test } from 'node:test';
import { type Observable, concat, finalize, interval, map, NEVER, take, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { Backoff, HealthMonitor, StreamClock, restartDelayMs } from '../../src/audio/health.ts';
import { encodePcm } from '../../src/audio/pcm.ts';
import { type MicStatus, type RecorderOptions, RecorderError, liveMicrophone } from '../../src/audio/recorder.ts';

const RATE = 16000;
const chunk = (ms: number, value = 0) => new Float32Array((RATE * ms) / 1000).fill(value);

test('dead stream: reported once after noDataMs without data, cleared when data flows again', () => {
  const h = new HealthMonitor(RATE, { noDataMs: 5000 });
  h.startRun(1000);
  assert.deepEqual(h.check(5999), []);
  assert.equal(h.stalled(5999), false);
  assert.deepEqual(h.check(6000), [{ condition: 'no-data', active: true, message: 'no audio from the recorder for 5.0 s' }]);
  assert.equal(h.stalled(6000), true);
  assert.deepEqual(h.check(9000), [], 'reported once');
  h.startRun(9000); // restarted: the clock starts again
  assert.equal(h.stalled(9000), false);
  assert.deepEqual(h.active, ['no-data']);
  assert.deepEqual(h.push(chunk(100, 0.1), 9100), [{ condition: 'no-data', active: false, message: 'audio is flowing again' }]);
  assert.deepEqual(h.active, []);
});

test('digital silence: reported after silenceMs of audio at or under ±4 LSB, cleared by sound', () => {
  const h = new HealthMonitor(RATE, { silenceMs: 2000 });
  const lsb = 1 / 32768;
  const dither = Float32Array.from({ length: 1600 }, (_, i) => ((i % 3) - 1) * 2 * lsb); // ±2 LSB, like sox's dither
  const changes = [];
  for (let i = 0; i < 25; i++) changes.push(...h.push(dither, i * 100));
  assert.equal(changes.length, 1);
  assert.equal(changes[0]!.condition, 'silence');
  assert.equal(changes[0]!.active, true);
  assert.match(changes[0]!.message, /digital silence for 2\.0 s \(peak ≤ -78 dBFS\)/);
  const back = h.push(chunk(100, 5 * lsb), 2600);
  assert.deepEqual(
    back.map((c) => [c.condition, c.active]),
    [['silence', false]],
  );
  assert.match(back[0]!.message, /after 2\.5 s of digital silence/);
  // quiet but not digital silence (an idle room through a real mic) is not reported
  const h2 = new HealthMonitor(RATE, { silenceMs: 1000 });
  for (let i = 0; i < 30; i++) assert.deepEqual(h2.push(chunk(100, 0.001), i * 100), []);
});

test('clipping: a second with ≥ 0.1 % of samples at full scale starts it; three clean seconds clear it', () => {
  const h = new HealthMonitor(RATE);
  const clipped = (n: number) => {
    const x = chunk(1000, 0.3);
    for (let i = 0; i < n; i++) x[i * 100] = i % 2 ? 1 : -1;
    return x;
  };
  assert.deepEqual(h.push(clipped(15), 1000), [], '15 of 16000 samples is under 0.1 %');
  const on = h.push(clipped(160), 2000);
  assert.deepEqual(
    on.map((c) => [c.condition, c.active]),
    [['clipping', true]],
  );
  assert.match(on[0]!.message, /clipping: 1\.00 % of the samples/);
  assert.deepEqual(h.push(clipped(160), 3000), [], 'reported once');
  assert.deepEqual(h.push(clipped(0), 4000), []);
  assert.deepEqual(h.push(clipped(0), 5000), []);
  assert.deepEqual(
    h.push(clipped(0), 6000).map((c) => [c.condition, c.active]),
    [['clipping', false]],
  );
  // int16 full scale: -32768 → -1, 32767 → 32767/32768 both count
  const h2 = new HealthMonitor(RATE);
  const x = chunk(1000, 0);
  x.fill(32767 / 32768, 0, 8).fill(-1, 8, 16);
  assert.equal(h2.push(x, 0).length, 1);
});

test('bad health and back-off options are refused', () => {
  assert.throws(() => new HealthMonitor(RATE, { noDataMs: 0 }), { code: 'ERR_HEALTH_OPTIONS' });
  assert.throws(() => new HealthMonitor(RATE, { clipFraction: 2 }), { code: 'ERR_HEALTH_OPTIONS' });
  assert.throws(() => new Backoff({ factor: 0.5 }), { code: 'ERR_HEALTH_OPTIONS' });
  assert.throws(() => new Backoff({ initialDelayMs: 100, maxDelayMs: 50 }), { code: 'ERR_HEALTH_OPTIONS' });
});

test('restart back-off: exponential from 500 ms, capped at 30 s, reset by a run that lasted', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 20].map((a) => restartDelayMs(a)),
    [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
  const b = new Backoff({ resetAfterMs: 10_000 });
  assert.deepEqual(
    [b.next(0), b.next(200), b.next(9999)],
    [
      { attempt: 1, delayMs: 500 },
      { attempt: 2, delayMs: 1000 },
      { attempt: 3, delayMs: 2000 },
    ],
  );
  assert.deepEqual(b.next(10_000), { attempt: 1, delayMs: 500 });
});

test('stream clock: no fill in steady state or for jitter; a restart gap is filled, up to maxFillMs', () => {
  const c = new StreamClock(RATE, 5000, 100);
  assert.equal(c.arrive(1600, 1100, true), 0, 'first chunk sets the origin (recorded 1000–1100 ms)');
  for (let t = 1200; t <= 2000; t += 100) assert.equal(c.arrive(1600, t + (t % 300 === 0 ? 40 : 0), false), 0);
  assert.equal(c.streamMs, 1000);
  // the recorder died at 2000; a new one delivers its first 100 ms at 3600: 1.5 s were not recorded
  assert.equal(c.arrive(1600, 3600, true), 1.5 * RATE);
  assert.equal(c.streamMs, 2600);
  assert.equal(c.arrive(1600, 3750, true), 0, 'a 50 ms gap is jitter');
  assert.equal(c.arrive(1600, 60_000, true), 5 * RATE, 'capped');
});

/** A fake recorder: each call plays the next script; it reports a fake pid and records unsubscriptions. */
function fakeRecorder(scripts: Array<(o: RecorderOptions) => Observable<Uint8Array>>) {
  const calls: { at: number; unsubscribedAt?: number }[] = [];
  let now = () => 0;
  const source = (o: RecorderOptions): Observable<Uint8Array> => {
    const n = calls.length;
    const call: { at: number; unsubscribedAt?: number } = { at: now() };
    calls.push(call);
    o.onSpawn?.({ pid: 1000 + n } as ChildProcess);
    const script = scripts[Math.min(n, scripts.length - 1)]!;
    return script(o).pipe(finalize(() => (call.unsubscribedAt = now())));
  };
  return { calls, source, setClock: (f: () => number) => (now = f) };
}

const bytes = encodePcm(chunk(100, 0.1), 's16le');

function runMic(scripts: Array<(s: TestScheduler) => Observable<Uint8Array>>, untilMs: number, options: Record<string, unknown> = {}) {
  const statuses: MicStatus[] = [];
  const samples: Array<{ at: number; n: number; zeros: boolean }> = [];
  let error: unknown;
  const ts = new TestScheduler(assert.deepEqual);
  const fake = fakeRecorder(scripts.map((s) => () => s(ts)));
  fake.setClock(() => ts.now());
  ts.run(() => {
    const sub = liveMicrophone({
      sampleRateHz: RATE,
      scheduler: ts,
      source: fake.source,
      onStatus: (s) => statuses.push(s),
      ...options,
    }).subscribe({
      next: (x) => samples.push({ at: ts.now(), n: x.length, zeros: x.every((v) => v === 0) }),
      error: (e) => (error = e),
    });
    ts.schedule(() => sub.unsubscribe(), untilMs);
  });
  return { statuses, samples, calls: fake.calls, error };
}

/** 100 ms chunks every 100 ms, `n` of them (forever when undefined), then `end` (error or completion). */
const chunks = (n?: number, end?: Error) => (s: TestScheduler) => {
  const data = interval(100, s).pipe(
    n === undefined ? (x) => x : take(n),
    map(() => bytes),
  );
  return end
    ? concat(
        data,
        throwError(() => end),
      )
    : n === undefined
      ? data
      : concat(data, NEVER);
};

test('a recorder that dies is restarted after the back-off; statuses tell the story; the stream stays continuous', () => {
  const killed = new RecorderError('ERR_RECORDER_EXIT', 'sox was killed by SIGKILL', { signal: 'SIGKILL' });
  const { statuses, samples, calls, error } = runMic([chunks(10, killed), chunks()], 3000);
  assert.equal(error, undefined);
  assert.deepEqual(
    calls.map((c) => c.at),
    [0, 1500],
    'restarted 500 ms after it died at 1000 ms',
  );
  assert.deepEqual(
    statuses.map((s) => [s.time, s.state, s.run, s.pid ?? s.delayMs ?? s.gapMs ?? s.error?.code]),
    [
      [0, 'recorder-started', 1, 1000],
      [100, 'listening', 1, 0],
      [1000, 'recorder-stopped', 1, 'ERR_RECORDER_EXIT'],
      [1000, 'restarting', 1, 500],
      [1500, 'recorder-started', 2, 1001],
      [1600, 'listening', 2, 500],
    ],
  );
  assert.equal(statuses.find((s) => s.state === 'restarting')!.attempt, 1);
  // 500 ms of silence stands in for the outage, so stream time = wall time
  const fill = samples.find((s) => s.at === 1600 && s.zeros)!;
  assert.equal(fill.n, RATE / 2);
  const total = samples.reduce((a, s) => a + s.n, 0);
  // the last chunk before unsubscribing arrived at 2900 ms: 2.9 s of stream for 2.9 s of wall time
  assert.equal(total, (RATE * 2900) / 1000, 'one continuous stream, on wall time');
  assert.equal(calls[1]!.unsubscribedAt, 3000, 'unsubscribing stops the recorder');
});

test('a stalled recorder (no data for noDataMs) is stopped and restarted', () => {
  const { statuses, calls } = runMic([chunks(3), chunks()], 3000, { health: { noDataMs: 1000 } });
  // data until 300 ms; the watchdog (every 250 ms) sees 1200 ms without data at 1500 ms
  assert.deepEqual(
    calls.map((c) => [c.at, c.unsubscribedAt]),
    [
      [0, 1500],
      [2000, 3000],
    ],
  );
  assert.deepEqual(
    statuses.map((s) => [s.time, s.state, s.active ?? s.error?.code ?? s.delayMs ?? '']),
    [
      [0, 'recorder-started', ''],
      [100, 'listening', ''],
      [1500, 'no-data', true],
      [1500, 'recorder-stopped', 'ERR_RECORDER_STALLED'],
      [1500, 'restarting', 500],
      [2000, 'recorder-started', ''],
      [2100, 'listening', ''],
      [2100, 'no-data', false],
    ],
  );
});

test('consecutive failures back off exponentially up to the cap; a recorder that ends normally is restarted too', () => {
  const fail = () => throwError(() => new RecorderError('ERR_RECORDER_EXIT', 'sox exited with code 2'));
  // maxStartFailures off: this is about the back-off of a recorder that fails for ever (ERR_RECORDER_NO_INPUT is tested below)
  const { statuses, calls } = runMic([fail], 20_000, { restart: { maxDelayMs: 4000 }, maxStartFailures: Infinity });
  assert.deepEqual(
    statuses.filter((s) => s.state === 'restarting').map((s) => [s.attempt, s.delayMs]),
    [
      [1, 500],
      [2, 1000],
      [3, 2000],
      [4, 4000],
      [5, 4000],
      [6, 4000],
      [7, 4000],
      [8, 4000],
    ],
  );
  assert.deepEqual(
    calls.map((c) => c.at),
    [0, 500, 1500, 3500, 7500, 11500, 15500, 19500],
  );
  const ended = runMic([chunks(2, undefined), chunks()], 1000, {});
  assert.equal(ended.calls.length, 1, 'still running: NEVER after the data does not end');
  const completes = runMic(
    [
      (s) =>
        interval(100, s).pipe(
          take(2),
          map(() => bytes),
        ),
      chunks(),
    ],
    1500,
  );
  assert.deepEqual(
    completes.calls.map((c) => c.at),
    [0, 700],
  );
  assert.equal(completes.statuses.find((s) => s.state === 'recorder-stopped')!.message, 'sox ended');
});

test('no input at start-up: after maxStartFailures failed starts the microphone gives up with ERR_RECORDER_NO_INPUT', () => {
  const fail = () =>
    throwError(() => new RecorderError('ERR_RECORDER_EXIT', 'sox exited with code 2: cannot open default device', { stderr: 'no card' }));
  const { statuses, calls, error } = runMic([fail], 20_000);
  assert.equal((error as RecorderError).code, 'ERR_RECORDER_NO_INPUT');
  assert.match(
    (error as Error).message,
    /failed 3 times in a row without delivering audio \(last: sox exited with code 2: cannot open default device\)/,
  );
  assert.deepEqual(
    calls.map((c) => c.at),
    [0, 500, 1500],
    'three starts with the usual back-off, then no more',
  );
  assert.equal(statuses.filter((s) => s.state === 'restarting').length, 2);
  // a stall before any audio counts as a failed start too
  const stalls = runMic([() => NEVER], 20_000, { health: { noDataMs: 1000 }, maxStartFailures: 2 });
  assert.equal((stalls.error as RecorderError).code, 'ERR_RECORDER_NO_INPUT');
  assert.equal(stalls.calls.length, 2);
});

test('a device that worked and went away is restarted for ever, however often it fails', () => {
  const fail = () => throwError(() => new RecorderError('ERR_RECORDER_EXIT', 'sox exited with code 2'));
  const { calls, error } = runMic([chunks(3, new RecorderError('ERR_RECORDER_EXIT', 'unplugged')), fail], 20_000, {
    restart: { maxDelayMs: 1000 },
  });
  assert.equal(error, undefined);
  assert.ok(calls.length > 10, `${calls.length} starts`);
});

test('a missing recorder is fatal: the error reaches the subscriber and nothing is restarted', () => {
  const missing = new RecorderError('ERR_RECORDER_MISSING', 'cannot record: "sox" is not installed');
  const { error, calls, statuses } = runMic([() => throwError(() => missing)], 5000);
  assert.equal(error, missing);
  assert.equal(calls.length, 1);
  assert.deepEqual(
    statuses.map((s) => s.state),
    ['recorder-started'],
  );
});

test('unsubscribing during the back-off cancels the restart', () => {
  const { calls } = runMic([chunks(2, new RecorderError('ERR_RECORDER_EXIT', 'x')), chunks()], 400);
  assert.deepEqual(
    calls.map((c) => c.at),
    [0],
  );
});
