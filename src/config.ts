/**
 * The feature configuration: the one place where the defaults of the feature path live.
 *
 * Every command (dataset build, training, evaluation, replay, live listening, remote ingest) resolves
 * its configuration here, and a trained model stores the resolved config in its `metadata.json`, so
 * that serving renders exactly what training saw.
 */

/** Window functions applied to each STFT frame. */
export const WINDOW_FUNCTIONS = ['hann', 'hamming', 'blackman', 'rect'] as const;
export type WindowFunction = (typeof WINDOW_FUNCTIONS)[number];

/** Frequency axes of the spectrogram image. */
export const FREQUENCY_SCALES = ['mel', 'linear'] as const;
export type FrequencyScale = (typeof FREQUENCY_SCALES)[number];

/** Colormaps for the model input image (all three channels carry the colour). */
export const COLORMAPS = ['viridis', 'magma', 'inferno', 'plasma', 'gray'] as const;
export type Colormap = (typeof COLORMAPS)[number];

/** sharp resize kernels. */
export const RESIZE_KERNELS = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3'] as const;
export type ResizeKernel = (typeof RESIZE_KERNELS)[number];

/**
 * How every route (files, ingest, microphone) reaches the model's rate: libsamplerate's sinc
 * converters, run as a stream and flushed at its end (src/audio/resample.ts).
 */
export const RESAMPLERS = ['sinc-medium', 'sinc-best', 'sinc-fastest'] as const;
export type Resampler = (typeof RESAMPLERS)[number];

/** How decibels are referenced before they are mapped onto the colormap. */
export const DB_REFERENCES = ['window-max', 'full-scale'] as const;
export type DbReference = (typeof DB_REFERENCES)[number];

/**
 * Everything that decides what the model sees. Stored in every model's and dataset's metadata.
 * (Milliseconds are `…Ms` everywhere in Soundee except `windowMillis` and `hopMillis` here: those are
 * the names stored in every model's metadata.json and sent in the protocol's hello, so they stay.)
 */
export interface FeatureConfig {
  /** Rate the model works at; every source is resampled to it. Default 16000 Hz. */
  sampleRateHz: number;
  /**
   * The resampling rule that brings every source to `sampleRateHz` (libsamplerate's sinc converter of
   * that quality, streamed and flushed at the end). Default 'sinc-medium' (what models before this
   * setting existed were trained with).
   */
  resampler: Resampler;
  /** Length of one classified window. Default 1000 ms. */
  windowMillis: number;
  /** Step between consecutive windows. Default 250 ms; must divide into whole STFT hops. */
  hopMillis: number;
  /** FFT size in samples (a power of two ≥ 16). Default 512 (32 ms at 16 kHz). */
  fftSize: number;
  /** Step between STFT frames in samples. Default 250 (15.6 ms, half the FFT), which divides the 4000-sample hop. */
  stftHopSamples: number;
  /** Window applied to each STFT frame. Default 'hann'. */
  windowFunction: WindowFunction;
  /** 'mel' (triangular mel filterbank) or 'linear' (equal-width bands). Default 'mel'. */
  frequencyScale: FrequencyScale;
  /**
   * Number of frequency rows of the spectrogram before resizing. Default 32 = imageSize: the resize
   * then only reduces time, so many windows can be resized in one sharp call with identical results.
   */
  bands: number;
  /** Lowest frequency shown. Default 0 Hz. */
  fMinHz: number;
  /**
   * Highest frequency shown. Default 5000 Hz: the training clips are low-passed at 5 kHz, so content
   * above it must not reach the model from live audio either (this is the feature path's low-pass).
   */
  fMaxHz: number;
  /** Level reference: 'window-max' (loudest cell of the window = top of the range) or 'full-scale' (0 dBFS). */
  dbReference: DbReference;
  /** Decibel range mapped onto the colormap, below the reference. Default 80 dB. */
  dbRangeDb: number;
  /**
   * Absolute noise floor added to every band's power, in dB relative to full scale. Digital silence
   * and a quiet recording below it render identically, so exact zeros cannot become a cue. Default -90.
   */
  noiseFloorDb: number;
  /** Colormap for the image. Default 'viridis'. */
  colormap: Colormap;
  /** Side of the square model input image. Default 32. */
  imageSize: number;
  /** sharp kernel used to resize the spectrogram image to imageSize². Default 'lanczos3'. */
  resizeKernel: ResizeKernel;
}

/** The defaults. Change them here and nowhere else. */
export const DEFAULT_FEATURE_CONFIG: Readonly<FeatureConfig> = Object.freeze({
  sampleRateHz: 16000,
  resampler: 'sinc-medium',
  windowMillis: 1000,
  hopMillis: 250,
  fftSize: 512,
  stftHopSamples: 250,
  windowFunction: 'hann',
  frequencyScale: 'mel',
  bands: 32,
  fMinHz: 0,
  fMaxHz: 5000,
  dbReference: 'window-max',
  dbRangeDb: 80,
  noiseFloorDb: -90,
  colormap: 'viridis',
  imageSize: 32,
  resizeKernel: 'lanczos3',
});

/** An error whose `code` callers can branch on. */
export class SoundeeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SoundeeError';
    this.code = code;
  }
}

function configError(message: string): never {
  throw new SoundeeError('ERR_CONFIG', message);
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value))
    configError(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

function num(name: string, value: unknown, ok: (v: number) => boolean, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value))
    configError(`${name} must be ${what}, got ${JSON.stringify(value)}`);
  return value;
}

const isInt = (v: number) => Number.isInteger(v);

/**
 * Merges `partial` over the defaults and checks every field.
 * @throws SoundeeError with code ERR_CONFIG naming the offending field.
 */
export function resolveFeatureConfig(partial: Partial<FeatureConfig> = {}): FeatureConfig {
  const unknown = Object.keys(partial).filter((k) => !(k in DEFAULT_FEATURE_CONFIG));
  if (unknown.length) configError(`unknown feature setting(s): ${unknown.join(', ')}`);
  const c = { ...DEFAULT_FEATURE_CONFIG, ...partial } as FeatureConfig;
  num('sampleRateHz', c.sampleRateHz, (v) => isInt(v) && v >= 4000 && v <= 192000, 'an integer in [4000, 192000]');
  oneOf('resampler', c.resampler, RESAMPLERS);
  num('windowMillis', c.windowMillis, (v) => v > 0 && v <= 10000, 'in (0, 10000]');
  num('hopMillis', c.hopMillis, (v) => v > 0 && v <= c.windowMillis, `in (0, windowMillis=${c.windowMillis}]`);
  num('fftSize', c.fftSize, (v) => isInt(v) && v >= 16 && (v & (v - 1)) === 0, 'a power of two ≥ 16');
  num('stftHopSamples', c.stftHopSamples, (v) => isInt(v) && v >= 1, 'a positive integer');
  oneOf('windowFunction', c.windowFunction, WINDOW_FUNCTIONS);
  oneOf('frequencyScale', c.frequencyScale, FREQUENCY_SCALES);
  num('bands', c.bands, (v) => isInt(v) && v >= 2 && v <= c.fftSize / 2 + 1, `an integer in [2, fftSize/2+1=${c.fftSize / 2 + 1}]`);
  num('fMinHz', c.fMinHz, (v) => v >= 0, '≥ 0');
  num('fMaxHz', c.fMaxHz, (v) => v > c.fMinHz && v <= c.sampleRateHz / 2, `in (fMinHz, sampleRateHz/2=${c.sampleRateHz / 2}]`);
  oneOf('dbReference', c.dbReference, DB_REFERENCES);
  num('dbRangeDb', c.dbRangeDb, (v) => v > 0 && v <= 200, 'in (0, 200]');
  num('noiseFloorDb', c.noiseFloorDb, (v) => v <= 0 && v >= -200, 'in [-200, 0]');
  oneOf('colormap', c.colormap, COLORMAPS);
  num('imageSize', c.imageSize, (v) => isInt(v) && v >= 8 && v <= 256, 'an integer in [8, 256]');
  oneOf('resizeKernel', c.resizeKernel, RESIZE_KERNELS);

  const win = windowSamples(c);
  const hop = hopSamples(c);
  if (!Number.isInteger(win)) configError(`windowMillis=${c.windowMillis} is not a whole number of samples at ${c.sampleRateHz} Hz`);
  if (!Number.isInteger(hop)) configError(`hopMillis=${c.hopMillis} is not a whole number of samples at ${c.sampleRateHz} Hz`);
  if (c.fftSize > win) configError(`fftSize=${c.fftSize} is longer than the window (${win} samples)`);
  if (hop % c.stftHopSamples !== 0)
    configError(
      `stftHopSamples=${c.stftHopSamples} must divide the window hop (${hop} samples) so that each STFT frame is computed once and shared by overlapping windows`,
    );
  return Object.freeze(c);
}

/** Samples in one window. */
export const windowSamples = (c: FeatureConfig): number => (c.windowMillis * c.sampleRateHz) / 1000;
/** Samples between window starts. */
export const hopSamples = (c: FeatureConfig): number => (c.hopMillis * c.sampleRateHz) / 1000;
/** STFT frames in one window. */
export const framesPerWindow = (c: FeatureConfig): number => Math.floor((windowSamples(c) - c.fftSize) / c.stftHopSamples) + 1;
/** STFT frames between window starts. */
export const framesPerHop = (c: FeatureConfig): number => hopSamples(c) / c.stftHopSamples;

/** Field-by-field differences between two configs, as human-readable lines (empty when equal). */
export function diffFeatureConfig(expected: FeatureConfig, actual: FeatureConfig): string[] {
  const keys = Object.keys(DEFAULT_FEATURE_CONFIG) as (keyof FeatureConfig)[];
  return keys.filter((k) => expected[k] !== actual[k]).map((k) => `${k}: ${JSON.stringify(expected[k])} ≠ ${JSON.stringify(actual[k])}`);
}

/**
 * Defaults beyond the feature path, in one place (the feature path's are DEFAULT_FEATURE_CONFIG, the
 * event layer's DEFAULT_EVENT_OPTIONS).
 */
export const DEFAULTS = Object.freeze({
  /** Top-class probability under which a prediction is `unknown` ("cannot tell"): the capstone's 0.4. */
  confidenceThreshold: 0.4,
  /** Largest batch the inference queue gives the model. */
  inferenceBatch: 64,
  /** Training mini-batch (the capstone's). */
  trainingBatchSize: 64,
  /** Seed of the train/valid/test split of `dataset build`. */
  splitSeed: 42,
});

/** Label used for predictions under the confidence threshold. */
export const UNKNOWN_LABEL = 'unknown';
