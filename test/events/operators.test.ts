/**
 * The event operator on a virtual clock (RxJS TestScheduler marbles): events are emitted at the
 * prediction that decides them, open events end when the stream completes (reason stream-ended), streams are tracked apart.
 * Each marble frame is one prediction (one 250 ms hop); the tracker itself reads time from the predictions.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { UNKNOWN_LABEL } from '../../src/config.ts';
import { detectEvents, gateQuietWindows } from '../../src/events/operators.ts';
import type { SoundEvent } from '../../src/events/tracker.ts';
import type { Prediction } from '../../src/stream/operators.ts';

const CLASSES = ['water', 'wind'];
const scheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

/** Marble values: predictions of stream `id` whose water score is given per marble letter. */
function predictions(marbles: string, waterByLetter: Record<string, number>, id = 's', rmsDb = -30): Record<string, Prediction> {
  const out: Record<string, Prediction> = {};
  let i = 0;
  for (const ch of marbles) {
    if (!(ch in waterByLetter) || ch in out) continue;
    out[ch] = {
      streamId: id,
      index: i,
      startMs: 0,
      endMs: 1000,
      label: 'water',
      confidence: waterByLetter[ch]!,
      scores: { water: waterByLetter[ch]!, wind: 0 },
      rmsDb,
    };
    i++;
  }
  return out;
}

/** Gives each emitted prediction its window time (250 ms per emission), as the pipeline does. One per subscription. */
const timed = (streamId = 's') => {
  let i = 0;
  return (p: Prediction): Prediction => ({ ...p, streamId, index: i, startMs: i * 250, endMs: i++ * 250 + 1000 });
};

const ev = (phase: 'start' | 'end', startMs: number, endMs?: number, streamId = 's'): SoundEvent => ({
  streamId,
  label: 'water',
  phase,
  startMs,
  ...(endMs === undefined ? {} : { endMs }),
  peakConfidence: 0.9,
  meanConfidence: 0.9,
});

test('flicker emits nothing (marbles)', () => {
  scheduler().run(({ cold, expectObservable }) => {
    const src = '-lhllhllhlhll|';
    const p$ = cold(src, predictions(src, { l: 0.05, h: 0.95 })).pipe(map(timed()));
    expectObservable(p$.pipe(detectEvents(CLASSES))).toBe('-------------|');
  });
});

test('a sustained sound: one start when confirmed, one end when it fades (marbles)', () => {
  scheduler().run(({ cold, expectObservable }) => {
    // no smoothing, 1 s minimum (every window lasts 1 s), no cooldown: the start comes with the first loud
    // window (index 2), the end with the first quiet one after it (index 8), dated to the last loud window
    const src = 'llhhhhhhllll|';
    const p$ = cold(src, predictions(src, { l: 0.05, h: 0.9 })).pipe(map(timed()));
    expectObservable(p$.pipe(detectEvents(CLASSES, { smoothWindows: 1, minDurationMs: 1000, cooldownMs: 0 }))).toBe('--s-----e---|', {
      s: ev('start', 500),
      e: ev('end', 500, 7 * 250 + 1000),
    });
  });
});

test('with default smoothing the start waits for the moving average, and flicker inside the sound does not split it', () => {
  scheduler().run(({ cold, expectObservable }) => {
    const src = 'llllhhhhhlhhhhhllllll|';
    const p$ = cold(src, predictions(src, { l: 0.0, h: 0.8 })).pipe(map(timed()));
    // smoothed over 4 windows water turns on at window 5 (mean 0.4); the run is dated from window 4 (the first
    // reaching 0.4 itself) and confirmed at window 8, when its windows span 2000 ms (1000–3000). The dip at
    // window 9 only lowers the mean to 0.6. After the sound (windows 15…) the mean is 0.6, 0.4, then
    // 0.2 < 0.3 at window 17: the event ends there, dated to the end of window 14, its last loud window
    expectObservable(
      p$.pipe(
        detectEvents(CLASSES),
        map((e) => `${e.phase} ${e.startMs}-${e.endMs ?? ''}`),
      ),
    ).toBe('--------s--------e---|', {
      s: 'start 1000-',
      e: `end 1000-${14 * 250 + 1000}`,
    });
  });
});

test('open events end when the stream completes (marbles)', () => {
  scheduler().run(({ cold, expectObservable }) => {
    const src = 'lhhhhh|';
    const p$ = cold(src, predictions(src, { l: 0.05, h: 0.9 })).pipe(map(timed()));
    expectObservable(p$.pipe(detectEvents(CLASSES, { smoothWindows: 1, minDurationMs: 1000 }))).toBe('-s----(e|)', {
      s: ev('start', 250),
      e: { ...ev('end', 250, 5 * 250 + 1000), reason: 'stream-ended' },
    });
  });
});

test('errors pass through; events are not invented after an error', () => {
  scheduler().run(({ cold, expectObservable }) => {
    const src = 'lhhh#';
    const p$ = cold(src, predictions(src, { l: 0.05, h: 0.9 }), new Error('mic gone')).pipe(map(timed()));
    expectObservable(p$.pipe(detectEvents(CLASSES, { smoothWindows: 1, minDurationMs: 1000 }))).toBe(
      '-s--#',
      { s: ev('start', 250) },
      new Error('mic gone'),
    );
  });
});

test('each stream id has its own tracker', () => {
  scheduler().run(({ cold, expectObservable }) => {
    const a = timed('a');
    const b = timed('b');
    // a and b alternate; only a is loud
    const src = 'xyxyxyxy|';
    const vals = { x: 0.9, y: 0.05 };
    const p$ = cold(src, predictions(src, vals)).pipe(map((p) => (p.confidence > 0.5 ? a(p) : b(p))));
    expectObservable(p$.pipe(detectEvents(CLASSES, { smoothWindows: 1, minDurationMs: 1000 }))).toBe('s-------(e|)', {
      s: ev('start', 0, undefined, 'a'),
      e: { ...ev('end', 0, 3 * 250 + 1000, 'a'), reason: 'stream-ended' },
    });
  });
});

test('quiet windows: labelled unknown and never an event (marbles)', () => {
  scheduler().run(({ cold, expectObservable }) => {
    const src = 'hhhhhhhh|';
    const quiet = cold(src, predictions(src, { h: 0.9 }, 's', -75)).pipe(map(timed()));
    expectObservable(
      quiet.pipe(
        gateQuietWindows(),
        map((p) => p.label),
      ),
    ).toBe('uuuuuuuu|', { u: UNKNOWN_LABEL });
    expectObservable(quiet.pipe(detectEvents(CLASSES))).toBe('--------|');
  });
});

test('bad options fail when the pipeline is built', () => {
  assert.throws(() => detectEvents(CLASSES, { backgroundClasses: ['rain'] }), { code: 'ERR_EVENT_OPTIONS' });
});
