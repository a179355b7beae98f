/**
 * Pieces every command shares: error reporting, backend and model options, output helpers.
 */
import { readFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { DEFAULTS, type FeatureConfig, SoundeeError, resolveFeatureConfig } from '../config.ts';
import type { OpenEngineOptions } from '../engine/engine.ts';
import { BACKEND_CHOICES, type BackendChoice, inferenceThreads } from '../model/backend.ts';
import { DEFAULT_MODEL_DIR } from '../paths.ts';

/** An error the CLI reports as one line (no stack) and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Stops the command with a one-line message. */
export function fail(message: string, exitCode = 1): never {
  throw new CliError(message, exitCode);
}

/** Parses a number option, failing with the option's name. */
export function parseNumber(name: string, { min = -Infinity, max = Infinity, integer = false } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n)))
      fail(
        `${name} must be ${integer ? 'an integer' : 'a number'}${min > -Infinity ? ` ≥ ${min}` : ''}${max < Infinity ? ` and ≤ ${max}` : ''}, got "${value}"`,
        2,
      );
    return n;
  };
}

/**
 * Adds --backend (and, for commands that only run inference, --threads).
 * @param purpose 'training': tfjs backends only (training never runs on onnx), no --threads.
 */
export function backendOption(cmd: Command, purpose: 'inference' | 'training' = 'inference'): Command {
  if (purpose === 'training')
    return cmd.addOption(
      new Option('--backend <name>', 'TensorFlow.js backend: auto = tfjs-node if it loads, else wasm (env SOUNDEE_BACKEND)')
        .choices(BACKEND_CHOICES.filter((c) => c !== 'onnx'))
        .default(undefined, 'auto'),
    );
  return cmd
    .addOption(
      new Option(
        '--backend <name>',
        'inference engine: onnx (onnxruntime-node), node (tfjs-node), wasm or cpu; auto = the first that loads, in that order (env SOUNDEE_BACKEND)',
      )
        .choices([...BACKEND_CHOICES])
        .default(undefined, 'auto'),
    )
    .option(
      '--threads <n>',
      'inference threads: onnx intra-op threads (default one per core, up to 4) or wasm XNNPACK threads (default 1, at most 8) (env SOUNDEE_THREADS)',
      parseNumber('--threads', { integer: true, min: 1, max: 64 }),
    );
}

/** Adds --model, --threshold, --features (the model options of inference commands). */
export function modelOptions(cmd: Command): Command {
  return backendOption(
    cmd
      .option('--model <dir>', 'model directory (model.json, weights.bin, metadata.json)', DEFAULT_MODEL_DIR)
      .option(
        '--threshold <p>',
        `report 'unknown' under this confidence (default: the model's, usually ${DEFAULTS.confidenceThreshold})`,
        parseNumber('--threshold', { min: 0, max: 1 }),
      )
      .option(
        '--features <file>',
        "JSON file of feature settings; refused unless it matches the model's (guards against train/serve skew)",
      ),
  );
}

export interface ModelCliOptions {
  model: string;
  threshold?: number;
  features?: string;
  backend?: BackendChoice;
  threads?: number;
}

/** Reads a feature-config JSON file. */
export async function readFeatureFile(path: string): Promise<FeatureConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    fail(`--features ${path}: ${(e as Error).message}`, 2);
  }
  return resolveFeatureConfig(raw as Partial<FeatureConfig>);
}

/**
 * The engine options of the model options: the model directory, the backend and inference threads
 * (--threads, else SOUNDEE_THREADS / SOUNDEE_WASM_THREADS: these commands only run inference), the
 * threshold and (with --features) the feature config the model must have been trained with.
 */
export async function engineOptionsOf(o: ModelCliOptions): Promise<OpenEngineOptions> {
  const expectFeatures = o.features ? await readFeatureFile(o.features) : undefined;
  const threads = o.threads ?? inferenceThreads();
  return {
    model: o.model,
    ...(threads === undefined ? {} : { threads }),
    ...(o.backend ? { backend: o.backend } : {}),
    ...(o.threshold === undefined ? {} : { threshold: o.threshold }),
    ...(expectFeatures ? { expectFeatures } : {}),
    onWarning: (message) => info(`soundee: warning: ${message}`),
  };
}

/** Writes a line to stderr (logs, progress, summaries; stdout carries results). */
export const info = (line: string): void => void process.stderr.write(`${line}\n`);

/** Turns an error into the CLI's one-line message. */
export function describeError(e: unknown): string {
  if (e instanceof CliError || e instanceof SoundeeError) return e.message;
  if (e instanceof Error)
    return process.env.SOUNDEE_DEBUG ? (e.stack ?? e.message) : `${e.message} (set SOUNDEE_DEBUG=1 for the stack trace)`;
  return String(e);
}
