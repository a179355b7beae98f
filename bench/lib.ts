/** Benchmark helpers: repeated timing with median/min/max, machine load, tables. */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { loadavg, cpus } from 'node:os';

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Median/min/max of samples. */
export function stat(samples: number[]): Stat {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/**
 * Times `fn` `repeats` times after `warmup` untimed runs; each sample is the mean over `inner` calls.
 * @returns per-call milliseconds.
 */
export async function timeIt(fn: () => unknown, { repeats = 7, warmup = 2, inner = 1 } = {}): Promise<Stat> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    for (let i = 0; i < inner; i++) await fn();
    samples.push((performance.now() - t) / inner);
  }
  return stat(samples);
}

/** The machine, and how busy it is now (1-minute load average vs cores). */
export function machine(): { cpu: string; cores: number; load1: number; load5: number; node: string } {
  const [l1, l5] = loadavg();
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, load1: l1!, load5: l5!, node: process.version };
}

/** Formats a Stat with a unit: "1.23 ms (1.10–1.50)". */
export function fmt(s: Stat, unit: string, digits = 2): string {
  return `${s.median.toFixed(digits)} ${unit} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

/** A plain text table. */
export function table(rows: string[][]): string {
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(w[c]!) : cell.padStart(w[c]!))).join('  ')).join('\n');
}

/** The q-quantile (0..1) of samples, nearest rank. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** `uptime`'s load line (falls back to os.loadavg). */
export function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}`;
  }
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes of this machine. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The next IPC message of a benchmark child: rejects with `{ error }` replies, and when the child
 * exits first (with the message `exitMessage(code)` gives).
 */
export function nextReply<T extends object>(
  child: ChildProcess,
  exitMessage: (code: number | null) => string,
): Promise<Exclude<T, { error: string }>> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(exitMessage(code)));
    child.once('exit', onExit);
    child.once('message', (m) => {
      child.off('exit', onExit);
      const reply = m as T;
      if ('error' in reply) reject(new Error(String(reply.error)));
      else resolve(reply as Exclude<T, { error: string }>);
    });
  });
}

/** A `Key:   N kB` line of a /proc status or smaps_rollup text, in bytes; NaN when the key is absent. */
export function procKbBytes(text: string, key: string): number {
  return Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
}
