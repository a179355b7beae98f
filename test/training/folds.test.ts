import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dataset, type DatasetItem } from '../../src/data/dataset-file.ts';
import { packageFolds } from '../../src/training/folds.ts';

/** A dataset of header items only (one black pixel image each). */
function dataset(items: Omit<DatasetItem, 'split' | 'window'>[], classes: string[]): Dataset {
  return new Dataset(
    {
      format: 'soundee-dataset',
      version: 2,
      createdAt: '',
      source: 'test',
      kind: 'images',
      features: null,
      classes,
      imageSize: 1,
      audio: null,
      split: { seed: 1, ratios: [1, 0, 0] },
      items: items.map((it) => ({ ...it, split: 'train', window: 0 })),
      skipped: [],
    },
    new Uint8Array(items.length * 3),
    null,
  );
}

const items = (pkg: string, label: number, n: number, group = pkg) =>
  Array.from({ length: n }, (_, i) => ({ clip: `${pkg}/${label}/${i}`, label, group, package: pkg }));

test('every package lands wholly in one fold, and each class is spread over the folds', () => {
  const ds = dataset(
    [
      ...['a', 'b', 'c', 'd', 'e', 'f'].flatMap((p, k) => items(p, 0, 10 + k)),
      ...['g', 'h', 'i', 'j'].flatMap((p, k) => items(p, 1, 20 - k)),
      ...items('a', 1, 5), // a package with two classes
    ],
    ['x', 'y'],
  );
  const plan = packageFolds(ds, 3, 1);
  assert.equal(plan.kind, 'grouped');
  assert.equal(plan.packages.length, 3);
  const foldOfPackage = new Map<string, number>();
  ds.header.items.forEach((it, i) => {
    const f = plan.foldOf[i]!;
    assert.equal(foldOfPackage.get(it.package!) ?? f, f, `package ${it.package} split over folds`);
    foldOfPackage.set(it.package!, f);
  });
  assert.deepEqual(plan.packages.flat().sort(), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  // both classes are held out in every fold
  for (let f = 0; f < 3; f++)
    for (const label of [0, 1])
      assert.ok(
        ds.header.items.some((it, i) => plan.foldOf[i] === f && it.label === label),
        `fold ${f} holds out class ${label}`,
      );
  // deterministic
  assert.deepEqual(packageFolds(ds, 3, 1).foldOf, plan.foldOf);
});

test('packages that share a recording are held out together; "packages" gives one fold per unit', () => {
  const ds = dataset([...items('a', 0, 4), ...items('b', 0, 4, 'shared'), ...items('c', 1, 4, 'shared'), ...items('d', 1, 4)], ['x', 'y']);
  const plan = packageFolds(ds, 'packages');
  assert.equal(plan.kind, 'packages');
  assert.equal(plan.packages.length, 3);
  assert.ok(plan.packages.some((ps) => ps.join() === 'b,c'));
  // more folds than units: one per unit
  assert.equal(packageFolds(ds, 10).packages.length, 3);
});

test('items without a package are refused with what to do', () => {
  const ds = dataset([...items('a', 0, 2), { clip: 'x', label: 1, group: 'x' }], ['x', 'y']);
  assert.throws(() => packageFolds(ds, 2), { code: 'ERR_DATASET', message: /package/ });
  assert.throws(() => packageFolds(dataset(items('a', 0, 3), ['x']), 2), { code: 'ERR_DATASET', message: /two packages/ });
});
