/**
 * The event layer's pure logic: smoothing, thresholds with hysteresis, minimum duration, cooldown,
 * background classes and the level gate, on hand-made score sequences (250 ms hops, 1 s windows).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UNKNOWN_LABEL } from '../../src/config.ts';
import { gatePrediction } from '../../src/events/operators.ts';
import { type EventOptions, EventTracker, type SoundEvent, resolveEventOptions } from '../../src/events/tracker.ts';
import type { Prediction } from '../../src/stream/operators.ts';

const CLASSES = ['water', 'wind', 'noise'];
const HOP = 250;
const WIN = 1000;

/** Window i of a stream: scores per class (missing classes score 0). */
export function win(i: number, scores: Record<string, number>, rmsDb = -20, streamId = 's'): Prediction {
  const full: Record<string, number> = {};
  for (const c of CLASSES) full[c] = scores[c] ?? 0;
  const [label, confidence] = Object.entries(full).sort((a, b) => b[1] - a[1])[0]!;
  return { streamId, index: i, startMs: i * HOP, endMs: i * HOP + WIN, label, confidence, scores: full, rmsDb };
}

/** Runs a tracker over per-window water scores (plus optional other classes); returns [window index, event] pairs. */
function run(
  water: number[],
  options: EventOptions = {},
  extra: (i: number) => Record<string, number> = () => ({}),
  rmsDb = (_i: number) => -20,
) {
  const t = new EventTracker('s', CLASSES, options);
  const out: Array<[number, SoundEvent]> = [];
  water.forEach((w, i) => {
    for (const e of t.push(win(i, { water: w, ...extra(i) }, rmsDb(i)))) out.push([i, e]);
  });
  for (const e of t.finish()) out.push([water.length, e]);
  return out;
}

const rep = (v: number, n: number) => Array<number>(n).fill(v);

test('defaults: smoothing 4, threshold 0.4, off ¾ of it, min duration 2000 ms, cooldown 2000 ms, level gate -60 dBFS', () => {
  const r = resolveEventOptions(CLASSES);
  assert.equal(r.smoothWindows, 4);
  assert.equal(r.silenceDb, -60);
  assert.deepEqual(r.tracked, CLASSES);
  assert.deepEqual({ ...r.settings.water }, { threshold: 0.4, offThreshold: 0.4 * 0.75, minDurationMs: 2000, cooldownMs: 2000 });
});

test('per-class settings override the general ones; a class threshold brings its own off threshold', () => {
  const r = resolveEventOptions(CLASSES, {
    threshold: 0.5,
    offThreshold: 0.2,
    cooldownMs: 10,
    perClass: { wind: { threshold: 0.8 }, noise: { minDurationMs: 0 } },
  });
  assert.deepEqual({ ...r.settings.water }, { threshold: 0.5, offThreshold: 0.2, minDurationMs: 2000, cooldownMs: 10 });
  assert.deepEqual({ ...r.settings.wind }, { threshold: 0.8, offThreshold: 0.8 * 0.75, minDurationMs: 2000, cooldownMs: 10 });
  assert.deepEqual({ ...r.settings.noise }, { threshold: 0.5, offThreshold: 0.2, minDurationMs: 0, cooldownMs: 10 });
});

test('bad options are refused with ERR_EVENT_OPTIONS, naming the problem', () => {
  assert.throws(() => resolveEventOptions(CLASSES, { backgroundClasses: ['silence'] }), {
    code: 'ERR_EVENT_OPTIONS',
    message: /"silence" not among the model's classes \(water, wind, noise\)/,
  });
  assert.throws(() => resolveEventOptions(CLASSES, { perClass: { rain: {} } }), { code: 'ERR_EVENT_OPTIONS', message: /"rain"/ });
  assert.throws(() => resolveEventOptions(CLASSES, { threshold: 0 }), { code: 'ERR_EVENT_OPTIONS', message: /threshold/ });
  assert.throws(() => resolveEventOptions(CLASSES, { threshold: 0.4, offThreshold: 0.5 }), {
    code: 'ERR_EVENT_OPTIONS',
    message: /offThreshold/,
  });
  assert.throws(() => resolveEventOptions(CLASSES, { smoothWindows: 0 }), { code: 'ERR_EVENT_OPTIONS', message: /smoothWindows/ });
  assert.throws(() => resolveEventOptions(CLASSES, { minDurationMs: -1 }), { code: 'ERR_EVENT_OPTIONS' });
  assert.throws(() => resolveEventOptions(CLASSES, { silenceDb: 3 }), { code: 'ERR_EVENT_OPTIONS' });
});

test('flicker does not create events: isolated confident windows are smoothed away', () => {
  const flicker = [0.05, 0.05, 0.95, 0.05, 0.05, 0.05, 0.95, 0.05, 0.95, 0.05, 0.05, 0.05, 0.05];
  assert.deepEqual(run(flicker), []);
});

test('flicker does not create events even unsmoothed: a single window is shorter than the minimum duration', () => {
  assert.deepEqual(run([0, 0, 0.9, 0, 0, 0.9, 0, 0.9, 0], { smoothWindows: 1 }), []);
});

test('a sustained sound creates exactly one start and one end, dated from its windows', () => {
  const scores = [...rep(0.05, 4), ...rep(0.85, 12), ...rep(0.05, 8)];
  const ev = run(scores);
  assert.equal(ev.length, 2, JSON.stringify(ev));
  const [[iStart, start], [iEnd, end]] = ev as [[number, SoundEvent], [number, SoundEvent]];
  // smoothed: window 5 = (0.05·2 + 0.85·2)/4 = 0.45 ≥ 0.4 turns water on; the run is dated from its first
  // window reaching 0.4 itself, window 4 (1000 ms), not from where the average caught up. It is confirmed
  // once its scoring windows span 2000 ms: window 8 ends at 8·250 + 1000 = 3000.
  assert.equal(iStart, 8);
  assert.deepEqual(start, { streamId: 's', label: 'water', phase: 'start', startMs: 1000, peakConfidence: 0.85, meanConfidence: 0.85 });
  // smoothed after the sound: window 16 = 0.65, 17 = 0.45, 18 = 0.25 < 0.3 → ends there; the end is the end
  // of the last window scoring itself (15), not of the smoothing's tail
  assert.equal(iEnd, 18);
  assert.equal(end.phase, 'end');
  assert.equal(end.startMs, 1000);
  assert.equal(end.endMs, 15 * HOP + WIN);
  assert.equal(end.peakConfidence, 0.85);
  assert.ok(Math.abs(end.meanConfidence - 0.85) < 1e-12, 'mean over windows 4…15');
});

test('a dip inside a sound counts in its mean; the tail after its last scoring window does not', () => {
  const ev = run([0, 0.9, 0.9, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9, 0, 0, 0, 0], { smoothWindows: 2, minDurationMs: 0 });
  const end = ev.find(([, e]) => e.phase === 'end')![1];
  assert.deepEqual([end.startMs, end.endMs], [250, 8 * HOP + WIN]);
  assert.ok(Math.abs(end.meanConfidence - (7 * 0.9 + 0.1) / 8) < 1e-12);
});

test('with the defaults, the windows of a transition (partly one sound, partly silence) make no event', () => {
  // a sound gives way to silence: two or three windows hold a little of it, which the model may call anything
  const water = [0, 0, 0, 0, 0.33, 0.95, 0.95, 0, 0, 0, 0, 0];
  const db = (i: number) => (i < 8 ? -30 : -96);
  assert.deepEqual(
    run(water, {}, (i) => ({ wind: i < 4 ? 0.9 : 0 }), db).filter(([, e]) => e.label === 'water'),
    [],
  );
});

test('hysteresis: once on, a class stays on between the off and on thresholds', () => {
  const scores = [0.2, 0.6, 0.45, 0.35, 0.45, 0.35, 0.25, 0.45, 0.35, 0.2];
  const opts = { smoothWindows: 1, minDurationMs: 0, cooldownMs: 0, threshold: 0.5 };
  const withH = run(scores, { ...opts, offThreshold: 0.3 });
  assert.deepEqual(
    withH.map(([i, e]) => [i, e.phase, e.startMs, e.endMs]),
    [
      [1, 'start', 250, undefined],
      [6, 'end', 250, 5 * HOP + WIN],
    ],
  );
  // without hysteresis scores hovering around 0.5 flap (twice here: a new event of a class never starts
  // before the previous one's end, so the 1 s windows space them out)
  const without = run([0.2, 0.6, 0.45, 0.55, 0.45, 0.55, 0.2], { ...opts, offThreshold: 0.5 });
  assert.deepEqual(
    without.map(([i, e]) => `${e.phase}@${i}`),
    ['start@1', 'end@2', 'start@5', 'end@6'],
  );
  const withH2 = run([0.2, 0.6, 0.45, 0.55, 0.45, 0.55, 0.2], { ...opts, offThreshold: 0.3 });
  assert.equal(withH2.filter(([, e]) => e.phase === 'start').length, 1);
});

test('minimum duration: a run shorter than it leaves no trace; one that reaches it starts, dated back', () => {
  const opts = { smoothWindows: 1, minDurationMs: 2000, cooldownMs: 0 };
  // 4 windows on span 3·250 + 1000 = 1750 ms
  assert.deepEqual(run([0, ...rep(0.9, 4), 0, 0], opts), []);
  // 5 windows span 2000 ms: the start comes with the 5th window (index 5) and is dated from the 1st (index 1)
  const ev = run([0, ...rep(0.9, 5), 0, 0], opts);
  assert.deepEqual(
    ev.map(([i, e]) => [i, e.phase, e.startMs, e.endMs]),
    [
      [5, 'start', 250, undefined],
      [6, 'end', 250, 5 * HOP + WIN],
    ],
  );
});

test('cooldown: a second run of the same class soon after an event is suppressed; other classes are not', () => {
  const burst = [...rep(0.9, 6), 0, 0, ...rep(0.9, 6), 0];
  const opts = { smoothWindows: 1, minDurationMs: 0 };
  assert.equal(run(burst, { ...opts, cooldownMs: 0 }).filter(([, e]) => e.phase === 'start').length, 2);
  // first event ends at window 5's end (2250 ms); with 3 s of cooldown nothing may start before 5250 ms
  const cooled = run(burst, { ...opts, cooldownMs: 3000 }, (i) => ({ wind: burst[i]! }));
  assert.deepEqual(
    cooled.filter(([, e]) => e.phase === 'start').map(([i, e]) => `${e.label}@${i}`),
    ['water@0', 'wind@0'],
  );
  // per class: only water cools down; wind starts again at the first window that begins after its first
  // event's end (window 9 at 2250 ms: events of one class never overlap)
  const perClass = run(burst, { ...opts, cooldownMs: 0, perClass: { water: { cooldownMs: 3000 } } }, (i) => ({ wind: burst[i]! }));
  assert.deepEqual(
    perClass.filter(([, e]) => e.phase === 'start').map(([i, e]) => `${e.label}@${i}`),
    ['water@0', 'wind@0', 'wind@9'],
  );
  // a long second run starts once the cooldown is over (first window starting at ≥ 5250 ms is window 21)
  const long = run([...rep(0.9, 6), 0, 0, ...rep(0.9, 20), 0], { ...opts, cooldownMs: 3000 });
  assert.deepEqual(
    long.filter(([, e]) => e.phase === 'start').map(([i, e]) => [i, e.startMs]),
    [
      [0, 0],
      [21, 5250],
    ],
  );
});

test('background classes never become events', () => {
  const ev = run(rep(0.1, 12), { smoothWindows: 1, minDurationMs: 0, backgroundClasses: ['noise'] }, () => ({ noise: 0.9 }));
  assert.deepEqual(ev, []);
  const notBg = run(rep(0.1, 12), { smoothWindows: 1, minDurationMs: 0 }, () => ({ noise: 0.9 }));
  assert.deepEqual(
    notBg.map(([, e]) => `${e.label} ${e.phase}`),
    ['noise start', 'noise end'],
  );
});

test('level gate: windows under silenceDb count as hearing nothing, whatever the model said', () => {
  const loud = rep(0.9, 12);
  // quiet (the feature path would have rendered a normalised image of the noise floor)
  assert.deepEqual(
    run(
      loud,
      {},
      () => ({}),
      () => -75,
    ),
    [],
  );
  assert.deepEqual(
    run(
      loud,
      {},
      () => ({}),
      () => -Infinity,
    ),
    [],
  );
  // loud enough
  assert.equal(
    run(
      loud,
      {},
      () => ({}),
      () => -50,
    ).length,
    2,
  );
  // the threshold is configurable (-Infinity turns the gate off)
  assert.equal(
    run(
      loud,
      { silenceDb: -80 },
      () => ({}),
      () => -75,
    ).length,
    2,
  );
  assert.equal(
    run(
      loud,
      { silenceDb: -Infinity },
      () => ({}),
      () => -Infinity,
    ).length,
    2,
  );
  // a sound that goes quiet ends its event
  const ev = run(
    loud,
    { smoothWindows: 1 },
    () => ({}),
    (i) => (i < 8 ? -30 : -90),
  );
  assert.deepEqual(
    ev.map(([i, e]) => [i, e.phase, e.endMs]),
    [
      [4, 'start', undefined],
      [8, 'end', 7 * HOP + WIN],
    ],
  );
});

test('gatePrediction labels quiet windows unknown and leaves loud ones alone', () => {
  const p = win(0, { water: 0.9 }, -70);
  const g = gatePrediction(p);
  assert.equal(g.label, UNKNOWN_LABEL);
  assert.deepEqual(g.scores, p.scores);
  assert.equal(p.label, 'water', 'input not mutated');
  const loud = win(0, { water: 0.9 }, -40);
  assert.equal(gatePrediction(loud), loud);
  assert.equal(gatePrediction(win(0, { water: 0.9 }, -Infinity)).label, UNKNOWN_LABEL);
  assert.equal(gatePrediction(p, -80).label, 'water');
});

test('finish() ends open events at their last window and is idempotent; push after it is refused', () => {
  const t = new EventTracker('s', CLASSES, { smoothWindows: 1, minDurationMs: 0 });
  t.push(win(0, { water: 0.9 }));
  t.push(win(1, { water: 0.9 }));
  assert.deepEqual(t.active, ['water']);
  const ends = t.finish();
  assert.deepEqual(
    ends.map((e) => [e.label, e.phase, e.startMs, e.endMs]),
    [['water', 'end', 0, 1250]],
  );
  assert.deepEqual(t.finish(), []);
  assert.throws(() => t.push(win(2, {})), { code: 'ERR_EVENT_ORDER' });
});

test('an unconfirmed run at the end of the stream produces nothing', () => {
  assert.deepEqual(run([0, 0.9, 0.9], { smoothWindows: 1 }), []);
});

test('ends come before starts in the same window (one sound giving way to another)', () => {
  const t = new EventTracker('s', CLASSES, { smoothWindows: 1, minDurationMs: 0, cooldownMs: 0 });
  t.push(win(0, { wind: 0.9 }));
  const ev = t.push(win(1, { water: 0.9 }));
  assert.deepEqual(
    ev.map((e) => `${e.label} ${e.phase}`),
    ['wind end', 'water start'],
  );
});

test('predictions going back in time are refused', () => {
  const t = new EventTracker('s', CLASSES);
  t.push(win(4, {}));
  assert.throws(() => t.push(win(3, {})), { code: 'ERR_EVENT_ORDER', message: /out of order/ });
});

test('every event that starts also ends: finish(reason) gives each open event its end with that reason', () => {
  for (const reason of ['stream-ended', 'stopped', 'shutdown', 'error'] as const) {
    const t = new EventTracker('s', CLASSES, { smoothWindows: 1, minDurationMs: 0 });
    t.push(win(0, { water: 0.9, wind: 0.8 }));
    const ends = t.finish(reason);
    assert.deepEqual(
      ends.map((e) => [e.label, e.phase, e.reason]),
      [
        ['water', 'end', reason],
        ['wind', 'end', reason],
      ],
    );
  }
  // an end caused by the sound itself carries no reason
  const natural = run([0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0, 0, 0, 0, 0], { smoothWindows: 1 });
  assert.deepEqual(
    natural.map(([, e]) => [e.phase, e.reason]),
    [
      ['start', undefined],
      ['end', undefined],
    ],
  );
});

test('reconfigure: new thresholds apply from the next window, an open event stays open, a disabled class ends now (reason disabled)', () => {
  const t = new EventTracker('s', CLASSES, { smoothWindows: 1, minDurationMs: 0 });
  t.push(win(0, { water: 0.6, wind: 0.9 }));
  assert.deepEqual(t.active, ['water', 'wind']);
  // water's new threshold 0.9 (off 0.675) ends it at the next window of 0.6; wind becomes a background class
  const ends = t.reconfigure({ smoothWindows: 1, minDurationMs: 0, perClass: { water: { threshold: 0.9 } }, backgroundClasses: ['wind'] });
  assert.deepEqual(
    ends.map((e) => [e.label, e.phase, e.startMs, e.endMs, e.reason]),
    [['wind', 'end', 0, 1000, 'disabled']],
  );
  assert.deepEqual(t.active, ['water'], 'water stays open across the change');
  assert.deepEqual(t.options.tracked, ['water', 'noise']);
  const next = t.push(win(1, { water: 0.6, wind: 0.9 }));
  assert.deepEqual(
    next.map((e) => [e.label, e.phase, e.reason]),
    [['water', 'end', undefined]],
    'water ends by the new off threshold; wind, now background, starts nothing',
  );
  // enabling it again tracks it afresh
  t.reconfigure({ smoothWindows: 1, minDurationMs: 0 });
  assert.deepEqual(
    t.push(win(2, { wind: 0.9 })).map((e) => [e.label, e.phase]),
    [['wind', 'start']],
  );
  // bad settings are refused and change nothing
  assert.throws(() => t.reconfigure({ threshold: 2 }), { code: 'ERR_EVENT_OPTIONS' });
  assert.deepEqual(t.options.tracked, ['water', 'wind', 'noise']);
});

test('reconfigure: a new smoothing length keeps the latest windows', () => {
  const t = new EventTracker('s', CLASSES, { smoothWindows: 4, minDurationMs: 0 });
  for (let i = 0; i < 4; i++) t.push(win(i, { water: i < 2 ? 0 : 0.8 }));
  // the last two windows (0.8, 0.8) stay: smoothed 0.8 at once with 2 windows
  t.reconfigure({ smoothWindows: 2, minDurationMs: 0 });
  assert.deepEqual(t.active, ['water']);
  assert.deepEqual(t.push(win(4, { water: 0 })), [], '(0.8 + 0) / 2 = 0.4 ≥ off 0.3: still on');
  assert.deepEqual(
    t.push(win(5, { water: 0 })).map((e) => e.phase),
    ['end'],
  );
});
