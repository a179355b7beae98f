/**
 * Stratified train/valid/test split by group: every clip of a group (one original recording) goes to
 * the same split, and each class is divided in the requested proportions of its clips as closely as
 * whole groups allow. Deterministic for a given seed.
 */
import { SoundeeError } from '../config.ts';
import { Random } from '../util/random.ts';

export const SPLITS = ['train', 'valid', 'test'] as const;
export type Split = (typeof SPLITS)[number];

/** The capstone's 7:2:1. */
export const DEFAULT_RATIOS: readonly [number, number, number] = [0.7, 0.2, 0.1];

export interface Splittable {
  label: string;
  group: string;
}

/**
 * Assigns a split to every item.
 * Classes with at least three groups get at least one group in each split; among the assignments
 * tried (seeded), the one whose per-split clip counts are closest to the ratios wins. A group whose clips carry several labels is placed
 * with its most common label.
 * @returns split per item, in input order.
 */
export function splitByGroup(
  items: readonly Splittable[],
  { ratios = DEFAULT_RATIOS, seed = 42 }: { ratios?: readonly [number, number, number]; seed?: number } = {},
): Split[] {
  const sum = ratios[0] + ratios[1] + ratios[2];
  if (!(ratios.every((r) => r >= 0) && sum > 0))
    throw new SoundeeError('ERR_SPLIT', `split ratios must be non-negative with a positive sum, got ${ratios.join(':')}`);
  const r = ratios.map((x) => x / sum) as [number, number, number];
  const groups = new Map<string, { size: number; labels: Map<string, number> }>();
  for (const it of items) {
    const g = groups.get(it.group) ?? { size: 0, labels: new Map() };
    g.size++;
    g.labels.set(it.label, (g.labels.get(it.label) ?? 0) + 1);
    groups.set(it.group, g);
  }
  const byClass = new Map<string, string[]>();
  for (const [name, g] of [...groups].sort((a, b) => a[0].localeCompare(b[0]))) {
    const major = [...g.labels].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]![0];
    byClass.set(major, [...(byClass.get(major) ?? []), name]);
  }
  const rng = new Random(seed);
  const assignment = new Map<string, Split>();
  for (const cls of [...byClass.keys()].sort()) {
    const names = byClass.get(cls)!;
    const sizes = new Map(names.map((n) => [n, groups.get(n)!.size]));
    const total = names.reduce((a, n) => a + sizes.get(n)!, 0);
    const target = r.map((x) => x * total);
    const wanted = r.filter((x) => x > 0).length;
    // Whole groups rarely hit 7:2:1 exactly and group sizes vary a lot: try many seeded orders of
    // greedy filling and keep the one closest to the targets, with every split non-empty when the
    // class has enough groups.
    let best: { cost: number; split: Map<string, number> } | undefined;
    for (let trial = 0; trial < 400; trial++) {
      const order = rng.shuffle([...names]);
      const got = [0, 0, 0];
      const split = new Map<string, number>();
      for (const name of order) {
        let s = 0;
        let bestDeficit = -Infinity;
        for (let k = 0; k < 3; k++) {
          if (r[k] === 0) continue;
          const deficit = (target[k]! - got[k]!) / target[k]!;
          if (deficit > bestDeficit + 1e-12) {
            bestDeficit = deficit;
            s = k;
          }
        }
        got[s]! += sizes.get(name)!;
        split.set(name, s);
      }
      const empty = [0, 1, 2].filter((k) => r[k]! > 0 && got[k] === 0).length;
      const cost = (names.length >= wanted ? empty : 0) * 1e6 + got.reduce((a, g, k) => a + ((g - target[k]!) / total) ** 2, 0);
      if (!best || cost < best.cost) best = { cost, split };
    }
    for (const [name, s] of best!.split) assignment.set(name, SPLITS[s]!);
  }
  return items.map((it) => assignment.get(it.group)!);
}
