/**
 * Teaching a running server a sound: the clips a client sent are decoded and cut (at their own rate:
 * the model's resampling rule runs in the learning itself), a class is learned from them in a worker
 * thread (`soundee learn`'s library, off the event loop: the server keeps serving), the new model is
 * written to a fresh directory under the learn directory (never over the model it came from, never
 * into the package), and the engine switches to it without a restart (`Engine.swapModel`). Removing a
 * learned class goes the same way. Progress and results are reported as `learn` statuses; one job
 * runs at a time.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { encodeWav } from '../audio/wav.ts';
import { SoundeeError } from '../config.ts';
import type { Engine } from '../engine/engine.ts';
import type { EventOptions } from '../events/tracker.ts';
import { type TrimmedClip, previewClip, trimWav } from '../learn/clip.ts';
import { type LearnReport, listClasses } from '../learn/model-dir.ts';
import { learnInWorker, removeInWorker } from '../learn/worker.ts';
import type { ImageClassifier } from '../model/classifier.ts';
import { PACKAGE_ROOT } from '../paths.ts';
import type { ClassesBody, ClipBody, ClipUpload, LearnRequestBody, LearnResultBody } from '../protocol/index.ts';
import { DEFAULT_SERVER_OPTIONS } from './limits.ts';

/** What a teaching request may hold (defaults: `DEFAULT_SERVER_OPTIONS.teach`). */
export type TeachLimits = { -readonly [K in keyof typeof DEFAULT_SERVER_OPTIONS.teach]: number };

/** Options of a server that learns. */
export interface TeachOptions {
  /** The engine whose model is extended and swapped (the one the server's streams run on). */
  engine: Engine;
  /** The model directory the engine's model was loaded from: learning starts from it. */
  modelDir: string;
  /** Where new models are written, one fresh directory per change (created when missing; not inside the package's models/). */
  learnDir: string;
  /** The event settings for a new model. Default: the engine's, carried over (`carryEventOptions`). */
  events?: (model: ImageClassifier) => EventOptions;
  limits?: Partial<TeachLimits>;
  /** Hears each new model directory the engine switched to (e.g. to tell the operator where it is). */
  onModel?: (dir: string, change: { action: 'learn' | 'remove'; label: string }) => void;
}

/** A `learn` status as the teacher reports it (the server adds `type` and `kind`). */
export type LearnReportStatus = {
  action: 'learn' | 'remove';
  label: string;
  state: 'started' | 'progress' | 'done' | 'failed';
  stage?: string;
  progress?: number;
  code?: string;
  message?: string;
};

/** Whether `dir` is `parent` or inside it. */
function inside(dir: string, parent: string): boolean {
  const r = relative(resolve(parent), resolve(dir));
  return r === '' || (!r.startsWith('..') && !r.startsWith(sep) && !/^[a-zA-Z]:/.test(r));
}

/** A file-name-safe form of a label or clip name. */
const slug = (s: string) =>
  s
    .normalize('NFKD')
    .replace(/[^\w.-]+/g, '-')
    .replace(/^[-.]+|-+$/g, '')
    .slice(0, 48) || 'clip';

export class Teacher {
  /** The directory of the model the engine runs now. */
  modelDir: string;
  readonly learnDir: string;
  readonly limits: Readonly<TeachLimits>;
  private job: { action: 'learn' | 'remove'; label: string; abort: AbortController } | undefined;

  /**
   * @param report where `learn` statuses go (the hub).
   * @throws SoundeeError ERR_LEARN_OUT for a learn directory inside the package's models/ folder.
   */
  constructor(
    private readonly o: TeachOptions,
    private readonly report: (s: LearnReportStatus) => void,
  ) {
    this.modelDir = resolve(o.modelDir);
    this.learnDir = resolve(o.learnDir);
    if (inside(this.learnDir, join(PACKAGE_ROOT, 'models')))
      throw new SoundeeError(
        'ERR_LEARN_OUT',
        `the learn directory ${this.learnDir} is inside the package's models/ folder; learned models go elsewhere (--learn-dir)`,
      );
    this.limits = { ...DEFAULT_SERVER_OPTIONS.teach, ...o.limits };
  }

  /** What runs now (learning or removing a class), if anything. */
  get busy(): { action: 'learn' | 'remove'; label: string } | undefined {
    return this.job && { action: this.job.action, label: this.job.label };
  }

  /** The running model's classes, which of them are learned (with their records), and what teaching takes. */
  async classes(): Promise<ClassesBody> {
    const listing = await listClasses(this.modelDir).catch(() => undefined);
    const records = new Map((listing?.classes ?? []).flatMap((c) => (c.custom ? [[c.label, c.custom] as const] : [])));
    const m = this.o.engine.model;
    const { minExamples, maxExamples, maxNegatives, minClipMs, maxClipMs, maxBodyBytes } = this.limits;
    return {
      model: { name: m.name, architecture: m.architecture },
      classes: m.classes.map((label) => {
        const r = records.get(label);
        return r
          ? { label, learned: true, addedAt: r.addedAt, examples: r.examples, negatives: r.negatives, check: r.check, events: r.events }
          : { label, learned: false };
      }),
      learn: { enabled: true, minExamples, maxExamples, maxNegatives, minClipMs, maxClipMs, maxBodyBytes },
    };
  }

  /** A clip as the model sees it (the teach panel's preview). @throws SoundeeError ERR_LEARN_INPUT. */
  preview(wav: Uint8Array, trim: { startMs?: number; endMs?: number }): Promise<ClipBody> {
    return previewClip(trimWav(wav, 'the clip', trim, this.limits), this.o.engine.features);
  }

  /**
   * Learns a class from the clips of a request, then switches the engine to the new model.
   * @throws SoundeeError ERR_LEARN_BUSY, ERR_LEARN_TOO_FEW, ERR_LEARN_TOO_MANY, ERR_LEARN_LABEL,
   *   ERR_LEARN_INPUT, ERR_LEARN_SILENT, ERR_LEARN_MODEL, ERR_MODEL_MISMATCH, ERR_EVENT_OPTIONS; nothing changes then.
   */
  async learn(body: LearnRequestBody): Promise<LearnResultBody> {
    const started = performance.now();
    const label = body.label.trim();
    const negatives = body.negatives ?? [];
    const { minExamples, maxExamples, maxNegatives } = this.limits;
    this.claim('learn', label);
    try {
      if (body.examples.length < minExamples)
        throw new SoundeeError(
          'ERR_LEARN_TOO_FEW',
          `${body.examples.length} example clips; record at least ${minExamples} (3–20 work best)`,
        );
      if (body.examples.length > maxExamples || negatives.length > maxNegatives)
        throw new SoundeeError(
          'ERR_LEARN_TOO_MANY',
          `${body.examples.length} examples and ${negatives.length} negatives; this server takes at most ${maxExamples} examples and ${maxNegatives} negatives`,
        );
      if (this.o.engine.classes.includes(label))
        throw new SoundeeError(
          'ERR_LEARN_LABEL',
          `the model already has a class "${label}"; pick another name, or remove that class first`,
        );
      const examples = body.examples.map((c, i) => this.decode(c, c.name ?? `example-${i + 1}`));
      const negs = negatives.map((c, i) => this.decode(c, c.name ?? `negative-${i + 1}`));
      return await this.withTemp(async (tmp) => {
        const paths = await writeClips(join(tmp, 'examples'), examples);
        const negPaths = await writeClips(join(tmp, 'negatives'), negs);
        this.report({ action: 'learn', label, state: 'started', stage: 'starting', progress: 0 });
        const out = await this.newModelDir(label);
        let last = { stage: '', at: -1 };
        const report = await this.inNewDir(out, () =>
          learnInWorker(
            { model: this.modelDir, out, label, examples: paths, negatives: negPaths, expectFeatures: this.o.engine.features },
            {
              signal: this.job!.abort.signal,
              onProgress: (stage, fraction) => {
                // a status per stage, and at most one per 5 % within one
                if (stage === last.stage && fraction - last.at < 0.05) return;
                last = { stage, at: fraction };
                this.report({ action: 'learn', label, state: 'progress', stage, progress: Math.round(fraction * 100) / 100 });
              },
            },
          ),
        );
        this.report({ action: 'learn', label, state: 'done', progress: 1 });
        return this.result(report, out, started);
      });
    } catch (e) {
      this.failed('learn', label, e);
      throw e;
    } finally {
      this.job = undefined;
    }
  }

  /**
   * Removes a learned class, then switches the engine to the model without it.
   * @throws SoundeeError ERR_LEARN_BUSY, ERR_UNKNOWN_CLASS, ERR_LEARN_LABEL (a class the model was trained with).
   */
  async remove(label: string): Promise<ClassesBody> {
    this.claim('remove', label);
    try {
      if (!this.o.engine.classes.includes(label))
        throw new SoundeeError('ERR_UNKNOWN_CLASS', `the model has no class "${label}" (classes: ${this.o.engine.classes.join(', ')})`);
      this.report({ action: 'remove', label, state: 'started' });
      const out = await this.newModelDir(`without-${label}`);
      await this.inNewDir(out, () => removeInWorker(this.modelDir, out, label, { signal: this.job!.abort.signal }));
      this.report({ action: 'remove', label, state: 'done' });
      return await this.classes();
    } catch (e) {
      this.failed('remove', label, e);
      throw e;
    } finally {
      this.job = undefined;
    }
  }

  /** Stops a job that runs (shutdown): its worker is terminated, its new directory removed. */
  close(): void {
    this.job?.abort.abort();
  }

  private claim(action: 'learn' | 'remove', label: string): void {
    if (this.job)
      throw new SoundeeError(
        'ERR_LEARN_BUSY',
        `the server is ${this.job.action === 'learn' ? 'learning' : 'removing'} "${this.job.label}"; try again when it is done`,
      );
    this.job = { action, label, abort: new AbortController() };
  }

  private failed(action: 'learn' | 'remove', label: string, e: unknown): void {
    const code = e instanceof SoundeeError ? e.code : 'ERR_INTERNAL';
    // a refusal before anything started (busy) is the caller's answer, not the running job's news
    if (code !== 'ERR_LEARN_BUSY')
      this.report({ action, label, state: 'failed', code, message: e instanceof SoundeeError ? e.message : 'internal error' });
  }

  private decode(c: ClipUpload, name: string): { name: string; clip: TrimmedClip } {
    const bytes = Buffer.from(c.wav, 'base64');
    const trim = { ...(c.startMs === undefined ? {} : { startMs: c.startMs }), ...(c.endMs === undefined ? {} : { endMs: c.endMs }) };
    return { name, clip: trimWav(bytes, name, trim, this.limits) };
  }

  /** Runs `fn` with a temporary folder, removed afterwards. */
  private async withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), 'soundee-teach-'));
    try {
      return await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** A fresh directory name under the learn directory: `<time>-<what>`. */
  private async newModelDir(what: string): Promise<string> {
    await mkdir(this.learnDir, { recursive: true });
    const stamp = new Date()
      .toISOString()
      .replace(/\.\d+Z$/, 'Z')
      .replace(/:/g, '-');
    return join(this.learnDir, `${stamp}-${slug(what)}`);
  }

  /**
   * Writes a model into `out` (a worker job), then switches the engine to it; when either fails, the
   * directory goes and the engine keeps its model.
   */
  private async inNewDir<T>(out: string, write: () => Promise<T>): Promise<T> {
    try {
      const r = await write();
      await this.o.engine.swapModel(out, this.o.events ? { events: this.o.events } : {});
      this.modelDir = out;
      if (this.job) this.o.onModel?.(out, { action: this.job.action, label: this.job.label });
      return r;
    } catch (e) {
      await rm(out, { recursive: true, force: true });
      throw e;
    }
  }

  private result(r: LearnReport, out: string, started: number): LearnResultBody {
    const m = this.o.engine.model;
    const { addedAt, examples, negatives, check, events } = r.record;
    return {
      label: r.label,
      classes: [...m.classes],
      model: { name: m.name, architecture: m.architecture },
      modelDir: out,
      addedAt,
      examples,
      negatives,
      check,
      events,
      padded: r.padded,
      bank: r.bank,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    };
  }
}

/** Writes clips as 32-bit float WAV files at their own rate into `dir` (unique, readable names); returns the paths. */
async function writeClips(dir: string, clips: { name: string; clip: TrimmedClip }[]): Promise<string[]> {
  if (!clips.length) return [];
  await mkdir(dir, { recursive: true });
  const used = new Set<string>();
  const paths: string[] = [];
  for (const { name, clip } of clips) {
    let base = slug(name.replace(/\.wav$/i, ''));
    for (let k = 2; used.has(base); k++) base = `${slug(name)}-${k}`;
    used.add(base);
    const p = join(dir, `${base}.wav`);
    await writeFile(p, encodeWav(clip.samples, clip.sampleRateHz, { bitsPerSample: 32, encoding: 'float' }));
    paths.push(p);
  }
  return paths;
}
