/**
 * Model directories: `model.json` (topology + weights manifest), `weights.bin`, `metadata.json`
 * (classes, the full feature config, training and evaluation summaries). Saving and loading use
 * plain file I/O so they work on every backend (tfjs's `file://` handler exists only with tfjs-node).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DEFAULTS, type FeatureConfig, SoundeeError, diffFeatureConfig, resolveFeatureConfig } from '../config.ts';

export const MODEL_FORMAT = 'soundee-model';
export const MODEL_FORMAT_VERSION = 1;

/** What `metadata.json` holds. */
export interface ModelMetadata {
  format: typeof MODEL_FORMAT;
  formatVersion: number;
  /** Short name shown to clients (e.g. "default"). */
  name: string;
  architecture: string;
  /** Class names in output order (sorted, as the capstone's label encoder). */
  classes: string[];
  /** Classes that never become events (background). */
  backgroundClasses?: string[];
  /** The complete feature config the model was trained with. */
  features: FeatureConfig;
  /** Suggested "cannot tell" threshold. */
  confidenceThreshold: number;
  /** Classes added with `soundee learn`, in the order they were added (they follow the original classes). */
  customClasses?: CustomClassRecord[];
  /**
   * Calibration of the probabilities, applied at inference: softmax(log p / temperature), fitted on
   * predictions for packages the fitting models never trained on (`soundee cv`). Absent: none.
   */
  calibration?: { method: 'temperature'; temperature: number; fittedOn?: string };
  /** Per-class event thresholds (chosen on held-out packages); the event layer's default for those classes. */
  eventThresholds?: Record<string, number>;
  /** Free-form training and evaluation summaries. */
  training?: Record<string, unknown>;
  evaluation?: Record<string, unknown>;
  createdAt: string;
  /** Stored weight precision. */
  weights?: { dtype: 'float32' | 'float16' | 'uint8'; bytes: number };
}

/** A class added to a trained model from a few examples (`soundee learn`; see src/learn/). */
export interface CustomClassRecord {
  label: string;
  /** When it was learned (ISO 8601). */
  addedAt: string;
  /** The example clips (file names) and the windows of them that carried the sound. */
  examples: { files: string[]; windows: number };
  /** What the class was fitted against: the user's negative clips (file names, windows) and windows of the model's bank. */
  negatives: { files: string[]; windows: number; bank: number };
  /** How the row was fitted (method, augmented copies per window, L2, negative weight). */
  fit: { method: string; augmentations: number; l2: number; negativeWeight: number };
  /** Event settings for the class (the event layer's defaults for it; command-line options override them). */
  events: { threshold: number; minDurationMs: number };
  /**
   * Checks when it was learned: share of the examples' sound windows on which it is the top class; share
   * of the bank's windows it takes; and, learned again without each take in turn, how many of the takes
   * it recognises (leave-one-out; absent from classes learned before it existed).
   */
  check: { examplesOnTop: number; bankOnTop: number; heldOutTakes?: { recognised: number; of: number; windowShare: number } };
}

/** Weight storage: float32 as trained, or quantised (affine uint8 or float16) to shrink the file. */
export type WeightQuantization = 'none' | 'float16' | 'uint8';

function modelError(code: string, msg: string): never {
  throw new SoundeeError(code, msg);
}

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    modelError('ERR_MODEL_NOT_FOUND', err.code === 'ENOENT' ? `${what} not found: ${path}` : `${path}: ${err.message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    modelError('ERR_MODEL_INVALID', `${path}: not valid JSON (${(e as Error).message})`);
  }
}

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

function float32ToFloat16(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant = (mant | 0x800000) >> (1 - exp);
    return sign | ((mant + 0x1000) >> 13);
  }
  if (exp >= 31) return sign | 0x7c00;
  const h = sign | (exp << 10) | ((mant + 0x1000) >> 13);
  return h;
}

/** Re-encodes float32 weights per the chosen quantisation (tfjs decodes these specs natively on load). */
function quantize(
  specs: tf.io.WeightsManifestEntry[],
  data: ArrayBuffer,
  q: WeightQuantization,
): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  if (q === 'none') return { specs, data };
  const outSpecs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  let off = 0;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const vals = new Float32Array(data.slice(off, off + 4 * n));
    off += 4 * n;
    if (s.dtype !== 'float32') {
      outSpecs.push(s);
      parts.push(new Uint8Array(vals.buffer));
      continue;
    }
    if (q === 'float16') {
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = float32ToFloat16(vals[i]!);
      outSpecs.push({ ...s, quantization: { dtype: 'float16' } });
      parts.push(new Uint8Array(h.buffer));
    } else {
      let min = Infinity;
      let max = -Infinity;
      for (const v of vals) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const scale = max > min ? (max - min) / 255 : 1;
      const u = new Uint8Array(n);
      for (let i = 0; i < n; i++) u[i] = Math.round((vals[i]! - min) / scale);
      outSpecs.push({ ...s, quantization: { dtype: 'uint8', scale, min } });
      parts.push(u);
    }
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let p = 0;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return { specs: outSpecs, data: out.buffer };
}

/**
 * Saves a model and its metadata into `dir` (created if needed).
 * @returns the metadata as written.
 */
export async function saveModel(
  model: tf.LayersModel,
  dir: string,
  meta: Omit<ModelMetadata, 'format' | 'formatVersion' | 'createdAt' | 'weights'>,
  { quantization = 'none' as WeightQuantization } = {},
): Promise<ModelMetadata> {
  await mkdir(dir, { recursive: true });
  let written: ModelMetadata | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const raw = artifacts.weightData;
      const weightData = Array.isArray(raw) ? tf.io.concatenateArrayBuffers(raw) : ((raw as ArrayBuffer | undefined) ?? new ArrayBuffer(0));
      const { specs, data } = quantize(artifacts.weightSpecs ?? [], weightData, quantization);
      const modelJson = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: 'soundee',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
      };
      await writeAtomic(join(dir, 'weights.bin'), new Uint8Array(data));
      await writeAtomic(join(dir, 'model.json'), JSON.stringify(modelJson));
      written = {
        format: MODEL_FORMAT,
        formatVersion: MODEL_FORMAT_VERSION,
        ...meta,
        createdAt: new Date().toISOString(),
        weights: { dtype: quantization === 'none' ? 'float32' : quantization, bytes: data.byteLength },
      };
      await writeAtomic(join(dir, 'metadata.json'), `${JSON.stringify(written, null, 2)}\n`);
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: data.byteLength } };
    }),
  );
  return written!;
}

/** Reads and checks `metadata.json` of a model directory. */
export async function readMetadata(dir: string): Promise<ModelMetadata> {
  const m = (await readJson(join(dir, 'metadata.json'), 'model metadata')) as Partial<ModelMetadata>;
  const where = join(dir, 'metadata.json');
  if (m.format !== MODEL_FORMAT) modelError('ERR_MODEL_INVALID', `${where}: not a Soundee model (format ${JSON.stringify(m.format)})`);
  if (m.formatVersion !== MODEL_FORMAT_VERSION)
    modelError(
      'ERR_MODEL_VERSION',
      `${where}: model format version ${m.formatVersion} is not supported by this Soundee (expects ${MODEL_FORMAT_VERSION})`,
    );
  if (!Array.isArray(m.classes) || m.classes.length < 2 || !m.classes.every((c) => typeof c === 'string'))
    modelError('ERR_MODEL_INVALID', `${where}: "classes" must list at least two class names`);
  if (new Set(m.classes).size !== m.classes.length) modelError('ERR_MODEL_INVALID', `${where}: duplicate class names`);
  if (
    m.backgroundClasses !== undefined &&
    !(Array.isArray(m.backgroundClasses) && m.backgroundClasses.every((c) => m.classes!.includes(c)))
  )
    modelError('ERR_MODEL_INVALID', `${where}: "backgroundClasses" must list some of the model's classes (${m.classes.join(', ')})`);
  if (
    m.customClasses !== undefined &&
    !(Array.isArray(m.customClasses) && m.customClasses.every((c) => typeof c?.label === 'string' && m.classes!.includes(c.label)))
  )
    modelError('ERR_MODEL_INVALID', `${where}: "customClasses" must describe some of the model's classes (${m.classes.join(', ')})`);
  const t = m.calibration?.temperature;
  if (m.calibration !== undefined && !(m.calibration.method === 'temperature' && typeof t === 'number' && t > 0 && Number.isFinite(t)))
    modelError('ERR_MODEL_INVALID', `${where}: "calibration" must be {"method": "temperature", "temperature": T > 0}`);
  if (
    m.eventThresholds !== undefined &&
    !Object.entries(m.eventThresholds).every(([c, p]) => m.classes!.includes(c) && typeof p === 'number' && p > 0 && p <= 1)
  )
    modelError('ERR_MODEL_INVALID', `${where}: "eventThresholds" must map some of the model's classes to probabilities in (0, 1]`);
  let features: FeatureConfig;
  try {
    features = resolveFeatureConfig(m.features ?? {});
  } catch (e) {
    modelError('ERR_MODEL_INVALID', `${where}: invalid feature config: ${(e as Error).message}`);
  }
  return { ...(m as ModelMetadata), features, confidenceThreshold: m.confidenceThreshold ?? DEFAULTS.confidenceThreshold };
}

/** Merges fields into a model directory's metadata.json (e.g. an evaluation summary). */
export async function updateMetadata(dir: string, patch: Partial<Omit<ModelMetadata, 'format' | 'formatVersion'>>): Promise<ModelMetadata> {
  const m = { ...(await readMetadata(dir)), ...patch };
  await writeAtomic(join(dir, 'metadata.json'), `${JSON.stringify(m, null, 2)}\n`);
  return m;
}

/** A loaded model with its metadata. */
export interface LoadedModel {
  model: tf.LayersModel;
  metadata: ModelMetadata;
  dir: string;
}

/**
 * Loads a model directory and checks that it is usable: the network's input is imageSize×imageSize×3,
 * its output has one unit per class, and (when `expectFeatures` is given) the features it was trained
 * with equal the ones in use.
 * @throws SoundeeError ERR_MODEL_NOT_FOUND | ERR_MODEL_INVALID | ERR_MODEL_VERSION | ERR_MODEL_MISMATCH.
 */
export async function loadModel(
  dir: string,
  { expectFeatures, expectClasses }: { expectFeatures?: FeatureConfig; expectClasses?: readonly string[] } = {},
): Promise<LoadedModel> {
  const metadata = await readMetadata(dir);
  if (expectFeatures) {
    const diff = diffFeatureConfig(metadata.features, expectFeatures);
    if (diff.length)
      modelError(
        'ERR_MODEL_MISMATCH',
        `model ${dir} was trained with different features than the ones in use (model ≠ requested): ${diff.join('; ')}. Use the model's own settings (drop the overriding options) or retrain.`,
      );
  }
  if (expectClasses && expectClasses.join('\n') !== metadata.classes.join('\n'))
    modelError('ERR_MODEL_MISMATCH', `model ${dir} has classes [${metadata.classes.join(', ')}], expected [${expectClasses.join(', ')}]`);
  const json = (await readJson(join(dir, 'model.json'), 'model topology')) as {
    modelTopology?: object;
    weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  if (!json.modelTopology || !Array.isArray(json.weightsManifest))
    modelError('ERR_MODEL_INVALID', `${join(dir, 'model.json')}: not a tfjs layers model`);
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers: ArrayBuffer[] = [];
  for (const group of json.weightsManifest)
    for (const p of group.paths) {
      let b: Buffer;
      try {
        b = await readFile(join(dir, p));
      } catch {
        modelError('ERR_MODEL_INVALID', `weights file ${join(dir, p)} is missing`);
      }
      buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
    }
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: tf.io.concatenateArrayBuffers(buffers) }),
    );
  } catch (e) {
    modelError('ERR_MODEL_INVALID', `${dir}: cannot load the network: ${(e as Error).message}`);
  }
  const inShape = model.inputs[0]?.shape;
  const size = metadata.features.imageSize;
  if (inShape?.length !== 4 || inShape[1] !== size || inShape[2] !== size || inShape[3] !== 3) {
    model.dispose();
    modelError(
      'ERR_MODEL_MISMATCH',
      `${dir}: network input shape [${inShape?.join(', ')}] does not match the ${size}×${size}×3 images its metadata declares`,
    );
  }
  const outShape = model.outputs[0]?.shape;
  if (!outShape || outShape[outShape.length - 1] !== metadata.classes.length) {
    model.dispose();
    modelError(
      'ERR_MODEL_MISMATCH',
      `${dir}: network has ${outShape?.[outShape.length - 1]} outputs but metadata lists ${metadata.classes.length} classes`,
    );
  }
  return { model, metadata, dir };
}

/** Under this held-out recall a class is one not to rely on (the CLI says so; the dashboard's app.js keeps the same value as WEAK_RECALL). */
export const WEAK_RECALL = 0.5;

/**
 * The held-out recall a model's metadata records (`evaluation.crossValidation.recall`), for its classes
 * only; undefined when there is none or it is malformed (it only informs, so it never stops a model loading).
 */
export function heldOutRecallOf(m: {
  classes: readonly string[];
  evaluation?: Record<string, unknown>;
}): Record<string, number> | undefined {
  const cv = m.evaluation?.crossValidation as { recall?: unknown } | undefined;
  const r = cv?.recall;
  if (!r || typeof r !== 'object') return undefined;
  const out = Object.fromEntries(
    Object.entries(r as Record<string, unknown>).filter(
      (e): e is [string, number] => m.classes.includes(e[0]) && typeof e[1] === 'number' && e[1] >= 0 && e[1] <= 1,
    ),
  );
  return Object.keys(out).length ? out : undefined;
}
