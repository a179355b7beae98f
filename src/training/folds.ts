/**
 * Cross-validation folds by package: every item of a package (one game's or program's recordings: one
 * recording chain, one sound designer) lands in the same fold, so a fold's model is always judged on
 * packages it never heard — what a user's own microphone and room are to the bundled model.
 *
 * Packages that share a recording (a group that spans packages: the same file shipped by two games)
 * are one unit, or the copy in the training folds would leak the held-out one.
 */
import { SoundeeError } from '../config.ts';
import type { Dataset } from '../data/dataset-file.ts';
import { Random } from '../util/random.ts';

/** The fold of every item and what each fold holds out. */
export interface FoldPlan {
  /** Fold number of each item (dataset order). */
  foldOf: Int32Array;
  /** Per fold: the packages it holds out, sorted. */
  packages: string[][];
  /** 'packages' when every unit is its own fold (leave-one-package-out), else 'grouped'. */
  kind: 'packages' | 'grouped';
}

/** Union–find over package names. */
function unitsOf(ds: Dataset): Map<string, string> {
  const parent = new Map<string, string>();
  const find = (p: string): string => {
    let r = p;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(p, r);
    return r;
  };
  const groupPackage = new Map<string, string>();
  for (const it of ds.header.items) {
    const p = it.package!;
    if (!parent.has(p)) parent.set(p, p);
    const q = groupPackage.get(it.group);
    if (q === undefined) groupPackage.set(it.group, p);
    else if (find(q) !== find(p)) {
      const [a, b] = [find(q), find(p)].sort();
      parent.set(b!, a!);
    }
  }
  return new Map([...parent.keys()].map((p) => [p, find(p)]));
}

/**
 * Assigns packages to folds.
 * @param folds number of folds (≥ 2), or 'packages' for one fold per package (leave-one-package-out).
 *   More folds than package units also gives one fold per unit.
 * @param seed tie-breaking among equally balanced assignments.
 * Units are placed largest first, each into the fold where it keeps every class's held-out share
 * closest to 1/folds (several seeded orders tried, the most even kept).
 * @throws SoundeeError ERR_DATASET when items have no package (a dataset built without a manifest
 *   `package` column, or a version 1 file) or there are fewer than two units.
 */
export function packageFolds(ds: Dataset, folds: number | 'packages', seed = 1): FoldPlan {
  const missing = ds.header.items.filter((it) => !it.package).length;
  if (missing)
    throw new SoundeeError(
      'ERR_DATASET',
      `${missing} of ${ds.size} items have no package: cross-validation by package needs the manifest's "package" column (scripts/fetch-dataset.sh writes it); rebuild the dataset with soundee dataset build`,
    );
  const unitOf = unitsOf(ds);
  const units = [...new Set(unitOf.values())].sort();
  if (units.length < 2)
    throw new SoundeeError('ERR_DATASET', `cross-validation needs at least two packages, the dataset has ${units.length}`);
  const k = folds === 'packages' ? units.length : Math.min(folds, units.length);
  const kind = k === units.length ? 'packages' : 'grouped';
  const nc = ds.classes.length;
  const perUnit = new Map(units.map((u) => [u, new Float64Array(nc)]));
  const total = new Float64Array(nc);
  for (const it of ds.header.items) {
    perUnit.get(unitOf.get(it.package!)!)![it.label]!++;
    total[it.label]!++;
  }
  let assignment = new Map<string, number>(units.map((u, i) => [u, i]));
  if (kind === 'grouped') {
    const rng = new Random(seed);
    const size = (u: string) => perUnit.get(u)!.reduce((a, v, c) => a + v / (total[c] || 1), 0);
    let bestCost = Infinity;
    for (let trial = 0; trial < 200; trial++) {
      // largest first; the shuffle only breaks ties and varies the order of similar sizes
      const order = rng.shuffle([...units]).sort((a, b) => size(b) * (1 + 0.2 * rng.next()) - size(a) * (1 + 0.2 * rng.next()));
      const load = Array.from({ length: k }, () => new Float64Array(nc));
      const a = new Map<string, number>();
      for (const u of order) {
        const v = perUnit.get(u)!;
        let best = 0;
        let bestInc = Infinity;
        for (let f = 0; f < k; f++) {
          let inc = 0;
          for (let c = 0; c < nc; c++) if (total[c]) inc += ((load[f]![c]! + v[c]!) / total[c]!) ** 2 - (load[f]![c]! / total[c]!) ** 2;
          if (inc < bestInc - 1e-12) {
            bestInc = inc;
            best = f;
          }
        }
        a.set(u, best);
        for (let c = 0; c < nc; c++) load[best]![c]! += v[c]!;
      }
      // even held-out shares per class, and no fold without held-out items
      let cost = 0;
      for (const l of load) {
        if (l.every((v) => v === 0)) cost += 1e6;
        for (let c = 0; c < nc; c++) if (total[c]) cost += (l[c]! / total[c]! - 1 / k) ** 2;
      }
      if (cost < bestCost - 1e-12) {
        bestCost = cost;
        assignment = a;
      }
    }
  }
  const foldOf = Int32Array.from(ds.header.items, (it) => assignment.get(unitOf.get(it.package!)!)!);
  const packages = Array.from({ length: k }, () => new Set<string>());
  ds.header.items.forEach((it, i) => {
    packages[foldOf[i]!]!.add(it.package!);
  });
  return { foldOf, packages: packages.map((s) => [...s].sort()), kind };
}
