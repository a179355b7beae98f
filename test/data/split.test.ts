import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitByGroup } from '../../src/data/split.ts';

function items(spec: Record<string, number[]>) {
  // spec: class -> sizes of its groups
  return Object.entries(spec).flatMap(([label, sizes]) =>
    sizes.flatMap((n, g) => Array.from({ length: n }, () => ({ label, group: `${label}-${g}` }))),
  );
}

test('a group never spans two splits', () => {
  const xs = items({ a: [5, 9, 3, 12, 7, 1, 4], b: [30, 2, 2, 8, 6] });
  const s = splitByGroup(xs, { seed: 3 });
  const seen = new Map<string, string>();
  xs.forEach((x, i) => {
    const prev = seen.get(x.group);
    if (prev) assert.equal(prev, s[i]);
    seen.set(x.group, s[i]!);
  });
});

test('each class is split close to 7:2:1 and every split gets a group when there are enough', () => {
  const xs = items({ a: Array(20).fill(10), b: [40, 30, 20, 10, 10, 10, 5, 5, 5, 5] });
  const s = splitByGroup(xs, { seed: 42 });
  for (const label of ['a', 'b']) {
    const idx = xs.map((x, i) => [x, i] as const).filter(([x]) => x.label === label);
    const share = (sp: string) => idx.filter(([, i]) => s[i] === sp).length / idx.length;
    assert.ok(Math.abs(share('train') - 0.7) < 0.08, `${label} train ${share('train')}`);
    assert.ok(Math.abs(share('valid') - 0.2) < 0.08, `${label} valid ${share('valid')}`);
    assert.ok(share('test') > 0, `${label} test is not empty`);
  }
});

test('the split is deterministic for a seed and changes with it', () => {
  const xs = items({ a: [3, 4, 5, 6, 7, 8, 9, 10], b: [3, 4, 5, 6, 7, 8, 9, 10] });
  assert.deepEqual(splitByGroup(xs, { seed: 1 }), splitByGroup(xs, { seed: 1 }));
  assert.notDeepEqual(splitByGroup(xs, { seed: 1 }), splitByGroup(xs, { seed: 2 }));
});

test('ratios are validated', () => {
  assert.throws(() => splitByGroup([], { ratios: [0, 0, 0] }), { code: 'ERR_SPLIT' });
  assert.throws(() => splitByGroup([], { ratios: [-1, 1, 1] }), { code: 'ERR_SPLIT' });
});
