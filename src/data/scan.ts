/**
 * Finding labelled clips: class sub-folders (`rain/x.wav`), or the capstone's file-name rule
 * (`drop-4.wav` → `drop`), optionally with a CSV manifest that gives each clip a group (one original
 * recording) so that splits never put windows of one recording on both sides.
 */
import type { Dirent } from 'node:fs';
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
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
  /** The Debian package (or other source) the recording came from: the manifest's `package` column, when there is one. */
  package?: string;
}

/** The capstone's rule: the label is the file name up to its last '-' (`drop-4.png` → `drop`). */
export function labelFromFileName(file: string): string | undefined {
  const stem = basename(file, extname(file));
  const i = stem.lastIndexOf('-');
  return i > 0 ? stem.slice(0, i) : undefined;
}

/**
 * Files under `dir` with the given extensions, in name order. Symbolic links are followed, to files
 * and to folders, with a guard against loops (a folder already on the path is not entered again); what
 * cannot be used — a broken link, a loop, an unreadable folder — is reported in `problems`, never
 * dropped without a word.
 */
async function walk(
  dir: string,
  exts: ReadonlySet<string>,
  problems: { path: string; reason: string }[],
  ancestors: ReadonlySet<string> = new Set(),
): Promise<string[]> {
  const out: string[] = [];
  let real: string;
  let entries: Dirent[];
  try {
    real = await realpath(dir);
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    problems.push({ path: dir, reason: `cannot read the folder: ${(e as Error).message}` });
    return out;
  }
  if (ancestors.has(real)) {
    problems.push({ path: dir, reason: 'symbolic link loop (a folder that contains itself): not entered again' });
    return out;
  }
  const path = new Set([...ancestors, real]);
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      try {
        const st = await stat(p);
        isDir = st.isDirectory();
        isFile = st.isFile();
      } catch {
        if (exts.has(extname(e.name).toLowerCase()) || !extname(e.name))
          problems.push({ path: p, reason: 'broken symbolic link (its target does not exist)' });
        continue;
      }
    }
    if (isDir) out.push(...(await walk(p, exts, problems, path)));
    else if (isFile && exts.has(extname(e.name).toLowerCase())) out.push(p);
  }
  return out;
}

export interface ScanOptions {
  /** File extensions to take (lower case, with dot). Default ['.wav']. */
  extensions?: readonly string[];
  /** CSV with at least `clip` and (optionally) `class`/`label`, `group` and `package` columns; default `<dir>/manifest.csv` when present. */
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
): Promise<{ clips: ClipRef[]; manifestUsed?: string; unlabelled: string[]; problems: { clip: string; reason: string }[] }> {
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error();
  } catch {
    throw new SoundeeError('ERR_DATASET', `${dir}: not a directory`);
  }
  const found: { path: string; reason: string }[] = [];
  const files = await walk(dir, new Set(extensions), found);
  const problems = found.map((p) => ({ clip: relative(dir, p.path).split(sep).join('/') || '.', reason: p.reason }));
  if (files.length === 0)
    throw new SoundeeError(
      'ERR_DATASET',
      `${dir}: no ${extensions.join('/')} files found${problems.length ? ` (${problems.map((p) => `${p.clip}: ${p.reason}`).join('; ')})` : ''}`,
    );
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
    clips.push({ path, clip, label, group: row?.group || clip, ...(row?.package ? { package: row.package } : {}) });
  }
  if (clips.length === 0)
    throw new SoundeeError('ERR_DATASET', `${dir}: found files but no labels (use class sub-folders or names like drop-4.wav)`);
  return { clips, ...(rows ? { manifestUsed: manifestPath } : {}), unlabelled, problems };
}
