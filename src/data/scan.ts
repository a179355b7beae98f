/**
 * Finding labelled clips: class sub-folders (`rain/x.wav`), or the capstone's file-name rule
 * (`drop-4.wav` → `drop`), optionally with a CSV manifest that gives each clip a group (one original
 * recording) so that splits never put windows of one recording on both sides.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, extname, join, relative, sep } from 'node:path';
import { parse } from 'csv-parse/sync';
import { SoundeeError } from '../config.ts';

/** One labelled input file. */
export interface ClipRef {
  /** Absolute path. */
  path: string;
  /** Path relative to the dataset root, with '/' separators (the id used in CSVs). */
  clip: string;
  label: string;
  /** Clips of one group always land in the same split. */
  group: string;
}

/** The capstone's rule: the label is the file name up to its last '-' (`drop-4.png` → `drop`). */
export function labelFromFileName(file: string): string | undefined {
  const stem = basename(file, extname(file));
  const i = stem.lastIndexOf('-');
  return i > 0 ? stem.slice(0, i) : undefined;
}

async function walk(dir: string, exts: ReadonlySet<string>): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p, exts)));
    else if (e.isFile() && exts.has(extname(e.name).toLowerCase())) out.push(p);
  }
  return out;
}

export interface ScanOptions {
  /** File extensions to take (lower case, with dot). Default ['.wav']. */
  extensions?: readonly string[];
  /** CSV with at least `clip` and (optionally) `class`/`label` and `group` columns; default `<dir>/manifest.csv` when present. */
  manifest?: string;
}

/**
 * Lists the labelled clips under `dir`.
 * Classes come from the manifest's class column, else the first-level sub-folder, else the file name.
 * @throws SoundeeError ERR_DATASET when nothing usable is found or the manifest is malformed.
 */
export async function scanClips(
  dir: string,
  { extensions = ['.wav'], manifest }: ScanOptions = {},
): Promise<{ clips: ClipRef[]; manifestUsed?: string; unlabelled: string[] }> {
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error();
  } catch {
    throw new SoundeeError('ERR_DATASET', `${dir}: not a directory`);
  }
  const files = await walk(dir, new Set(extensions));
  if (files.length === 0) throw new SoundeeError('ERR_DATASET', `${dir}: no ${extensions.join('/')} files found`);
  const manifestPath = manifest ?? join(dir, 'manifest.csv');
  let rows: Record<string, string>[] | undefined;
  try {
    const text = await readFile(manifestPath, 'utf8');
    rows = parse(text, { columns: true, skip_empty_lines: true, trim: true }) as Record<string, string>[];
  } catch (e) {
    if (manifest) throw new SoundeeError('ERR_DATASET', `manifest ${manifest}: ${(e as Error).message}`);
  }
  const byClip = new Map<string, Record<string, string>>();
  if (rows) {
    if (rows.length && !('clip' in rows[0]!))
      throw new SoundeeError('ERR_DATASET', `manifest ${manifestPath}: needs a "clip" column (path relative to ${dir})`);
    for (const r of rows) byClip.set(r.clip!.replaceAll('\\', '/'), r);
  }
  const clips: ClipRef[] = [];
  const unlabelled: string[] = [];
  for (const path of files) {
    const clip = relative(dir, path).split(sep).join('/');
    const row = byClip.get(clip);
    const parts = clip.split('/');
    const label = row?.class || row?.label || (parts.length > 1 ? parts[0] : labelFromFileName(clip));
    if (!label) {
      unlabelled.push(clip);
      continue;
    }
    clips.push({ path, clip, label, group: row?.group || clip });
  }
  if (clips.length === 0)
    throw new SoundeeError('ERR_DATASET', `${dir}: found files but no labels (use class sub-folders or names like drop-4.wav)`);
  return { clips, ...(rows ? { manifestUsed: manifestPath } : {}), unlabelled };
}
