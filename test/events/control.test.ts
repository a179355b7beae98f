/**
 * Run-time control of the event layer (`EventControl`): changes are checked and applied as a whole,
 * and trackers that share a control follow it per window — disabling or snoozing a class ends its open
 * event with a reason, thresholds apply from the next window.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EVENT_CONTROL_LIMITS, EventControl } from '../../src/events/control.ts';
import { type EventOptions, EventTracker, type SoundEvent, resolveEventOptions } from '../../src/events/tracker.ts';
import type { Prediction } from '../../src/stream/operators.ts';

const CLASSES = ['water', 'wind', 'noise'];
const HOP = 250;

function win(i: number, scores: Record<string, number>, streamId = 's'): Prediction {
  const full: Record<string, number> = {};
  for (const c of CLASSES) full[c] = scores[c] ?? 0;
  return { streamId, index: i, startMs: i * HOP, endMs: i * HOP + 1000, label: 'water', confidence: full.water!, scores: full, rmsDb: -20 };
}

/** A control over CLASSES with `noise` as background, and a hand-driven clock. */
function setup(options: EventOptions = {}) {
  const clock = { ms: 1_000_000 };
  const resolved = resolveEventOptions(CLASSES, { backgroundClasses: ['noise'], ...options });
  const control = new EventControl(resolved, () => clock.ms);
  const tracker = (id = 's') => new EventTracker(id, CLASSES, { backgroundClasses: ['noise'], ...options, control });
  return { clock, control, tracker };
}

const rep = (v: number, n: number) => Array<number>(n).fill(v);

test('a bad change throws ERR_EVENT_CONTROL and changes nothing', () => {
  const { control } = setup();
  const before = control.state();
  const bad: unknown[] = [
    { disable: ['rain'] }, // not a class of the model
    { enable: ['noise'] }, // background: never an event
    { thresholds: { water: 0 } },
    { thresholds: { water: 1.5 } },
    { thresholds: { water: '0.5' } },
    { snoozeMinutes: { water: -1 } },
    { snoozeMinutes: { water: EVENT_CONTROL_LIMITS.maxSnoozeMinutes + 1 } },
    { enable: ['water'], disable: ['water'] },
    // a good part does not get applied when another part is bad
    { disable: ['wind'], thresholds: { water: 2 } },
  ];
  for (const change of bad) {
    assert.throws(() => control.apply(change as never), { code: 'ERR_EVENT_CONTROL' }, JSON.stringify(change));
    assert.deepEqual(control.state(), before, JSON.stringify(change));
    assert.equal(control.version, 0);
  }
  assert.deepEqual(control.tracked, ['water', 'wind']);
});

test('a good change applies as a whole: enabled set, thresholds (off-threshold keeps its ratio, null restores), snoozes', () => {
  const { control, clock } = setup({ threshold: 0.4, offThreshold: 0.2 });
  let told = 0;
  control.onChange(() => told++);
  control.apply({ disable: ['wind'], thresholds: { water: 0.8 }, snoozeMinutes: { water: 30 } });
  assert.equal(told, 1);
  assert.equal(control.version, 1);
  assert.deepEqual(control.state(), {
    water: { enabled: true, threshold: 0.8, offThreshold: 0.4, snoozedUntilMs: clock.ms + 30 * 60_000 },
    wind: { enabled: false, threshold: 0.4, offThreshold: 0.2, snoozedUntilMs: null },
  });
  assert.equal(control.offReason('water'), 'snoozed');
  assert.equal(control.offReason('wind'), 'disabled');
  clock.ms += 30 * 60_000;
  assert.equal(control.offReason('water'), undefined, 'the snooze is over');
  assert.equal(control.state().water!.snoozedUntilMs, null);
  control.apply({ enable: ['wind'], thresholds: { water: null } });
  assert.deepEqual(control.state().water, { enabled: true, threshold: 0.4, offThreshold: 0.2, snoozedUntilMs: null });
  assert.equal(control.offReason('wind'), undefined);
});

test('disabling a class in an event ends it at the next window with reason "disabled"; no event while disabled; enabling lets it start again', () => {
  const { control, tracker } = setup();
  const t = tracker();
  const out: Array<[number, SoundEvent]> = [];
  const water = rep(0.9, 40);
  water.forEach((w, i) => {
    if (i === 12) control.apply({ disable: ['water'] });
    if (i === 24) control.apply({ enable: ['water'] });
    for (const e of t.push(win(i, { water: w }))) out.push([i, e]);
  });
  for (const e of t.finish()) out.push([water.length, e]);
  const summary = out.map(([i, e]) => `${i}:${e.phase}${e.reason ? `(${e.reason})` : ''}`);
  // start confirmed once 2000 ms are covered (window 4); forced end at window 12; after re-enabling the
  // smoothing starts from silence, so the next start is dated from window 24 and confirmed at window 28
  assert.deepEqual(summary, ['4:start', '12:end(disabled)', '28:start', '40:end(stream-ended)']);
  const forced = out[1]![1];
  assert.equal(forced.endMs, 11 * HOP + 1000, 'dated at the last window that scored before the switch');
  assert.equal(out[2]![1].startMs, 24 * HOP);
});

test('snoozing ends the open event with reason "snoozed"; the class comes back by itself when the snooze is over', () => {
  const { control, tracker, clock } = setup();
  const t = tracker();
  const out: Array<[number, SoundEvent]> = [];
  for (let i = 0; i < 60; i++) {
    if (i === 10) control.apply({ snoozeMinutes: { water: 1 } });
    if (i === 20) clock.ms += 61_000;
    for (const e of t.push(win(i, { water: 0.9 }))) out.push([i, e]);
    clock.ms += HOP;
  }
  for (const e of t.finish()) out.push([60, e]);
  // the snooze is over at window 20; the cooldown after the forced end (last scoring window 9 ends at
  // 3250 ms, + 2000 ms) lets the next run begin at window 21, confirmed 2000 ms later at window 25
  assert.deepEqual(
    out.map(([i, e]) => `${i}:${e.phase}${e.reason ? `(${e.reason})` : ''}`),
    ['4:start', '10:end(snoozed)', '25:start', '60:end(stream-ended)'],
  );
  assert.equal(out[2]![1].startMs, 21 * HOP);
});

test('a new threshold applies from the next window: raised above the scores it ends the event naturally; lowered it lets one start', () => {
  const { control, tracker } = setup();
  const t = tracker();
  const out: Array<[number, SoundEvent]> = [];
  for (let i = 0; i < 40; i++) {
    if (i === 10) control.apply({ thresholds: { water: 0.95 } }); // off-threshold 0.7125 > 0.6
    if (i === 20) control.apply({ thresholds: { wind: 0.2 } }); // wind at 0.3 starts now
    for (const e of t.push(win(i, { water: 0.6, wind: 0.3 }))) out.push([i, e]);
  }
  for (const e of t.finish()) out.push([40, e]);
  // wind's ring already holds 0.3s: as with any start, the run is dated back over the smoothing windows
  // (17…20) and confirmed once it spans 2000 ms, at window 21
  assert.deepEqual(
    out.map(([i, e]) => `${i}:${e.label}:${e.phase}${e.reason ? `(${e.reason})` : ''}`),
    ['4:water:start', '10:water:end', '21:wind:start', '40:wind:end(stream-ended)'],
  );
  assert.equal(out[2]![1].startMs, 17 * HOP);
});

test('one control drives every stream of a device: disabling ends the open events of all of them', () => {
  const { control, tracker } = setup();
  const a = tracker('a');
  const b = tracker('b');
  const events: SoundEvent[] = [];
  for (let i = 0; i < 12; i++) {
    if (i === 8) control.apply({ disable: ['water'] });
    events.push(...a.push(win(i, { water: 0.9 }, 'a')), ...b.push(win(i, { water: 0.9 }, 'b')));
  }
  events.push(...a.finish(), ...b.finish());
  assert.deepEqual(
    events.map((e) => `${e.streamId}:${e.phase}${e.reason ? `(${e.reason})` : ''}`),
    ['a:start', 'b:start', 'a:end(disabled)', 'b:end(disabled)'],
  );
});

test('whatever the changes, every start gets exactly one end (random scores and commands, seeded)', () => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let forced = 0;
  for (let run = 0; run < 50; run++) {
    const { control, tracker, clock } = setup({ minDurationMs: 1000, cooldownMs: 0 });
    const t = tracker();
    const events: SoundEvent[] = [];
    for (let i = 0; i < 200; i++) {
      const r = rnd();
      const cls = rnd() < 0.5 ? 'water' : 'wind';
      if (r < 0.03) control.apply({ disable: [cls] });
      else if (r < 0.06) control.apply({ enable: [cls] });
      else if (r < 0.08) control.apply({ snoozeMinutes: { [cls]: rnd() < 0.5 ? 0 : 0.05 } });
      else if (r < 0.1) control.apply({ thresholds: { [cls]: rnd() < 0.3 ? null : 0.1 + 0.9 * rnd() } });
      clock.ms += HOP;
      events.push(...t.push(win(i, { water: rnd(), wind: rnd() })));
    }
    events.push(...t.finish());
    forced += events.filter((e) => e.reason !== undefined).length;
    for (const cls of ['water', 'wind']) {
      const phases = events.filter((e) => e.label === cls).map((e) => e.phase);
      for (let k = 0; k < phases.length; k++)
        assert.equal(phases[k], k % 2 === 0 ? 'start' : 'end', `run ${run} ${cls}: ${phases.join(',')}`);
      assert.equal(phases.length % 2, 0, `run ${run} ${cls}: every start ended`);
    }
  }
  assert.ok(forced >= 20, `the runs exercised forced ends (${forced})`);
});
