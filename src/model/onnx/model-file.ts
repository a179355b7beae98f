/**
 * `model.onnx` beside a model's weights. A model directory keeps one source of truth for classes and
 * feature settings (`metadata.json`); the ONNX file carries only the network, plus a fingerprint of
 * the tfjs network it was exported from (sha256 over its topology and weight values, in
 * `metadata_props`). At load, an up-to-date `model.onnx` is used as is; a missing one is exported in
 * memory; a stale one (the weights or topology changed since `soundee export`) is not used: the
 * network is exported again in memory and a notice says to re-run `soundee export`. Nothing is
 * written at load.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import onnxProto from 'onnx-proto';
import { SoundeeError } from '../../config.ts';
import { ONNX_OPSET, exportToOnnx } from './export.ts';

const { onnx } = onnxProto;

/** File name of the exported network in a model directory. */
export const ONNX_FILE = 'model.onnx';
/** `metadata_props` key of the source fingerprint. */
export const FINGERPRINT_KEY = 'soundee.source_sha256';
/** `metadata_props` key of the exporter's description (informational). */
export const EXPORTER_KEY = 'soundee.exporter';

/**
 * sha256 (hex) of a tfjs network: its topology (JSON) and every weight's name, shape and float32
 * values, in order. Weights stored as float16 hash as the float32 values tfjs decodes them to, so
 * the fingerprint names the network that runs, whatever its storage.
 */
export function networkFingerprint(model: tf.LayersModel): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(model.toJSON(null, false)));
  for (const w of model.weights) {
    const v = w.read();
    hash.update(`\n${w.originalName}:${v.shape.join('x')}:${v.dtype}\n`);
    const data = v.dataSync();
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}

/** The `metadata_props` of a serialised ONNX model. @throws SoundeeError ERR_MODEL_INVALID when it is not one. */
export function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  let proto: InstanceType<typeof onnx.ModelProto>;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new SoundeeError('ERR_MODEL_INVALID', `not an ONNX model: ${(e as Error).message}`, { cause: e });
  }
  return Object.fromEntries((proto.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
}

/** Exports a network with its fingerprint in `metadata_props`. */
export function exportWithFingerprint(model: tf.LayersModel, fingerprint = networkFingerprint(model)): Uint8Array {
  return exportToOnnx(model, {
    metadata: { [FINGERPRINT_KEY]: fingerprint, [EXPORTER_KEY]: `soundee tfjs→onnx, opset ${ONNX_OPSET}, NHWC input` },
  });
}

/** Where the ONNX model that runs came from. */
export type OnnxSource = 'file' | 'exported' | 'exported-stale';

/**
 * The ONNX form of a loaded network: `dir/model.onnx` when its fingerprint matches `model`, else a
 * fresh in-memory export (`exported-stale` when a file was there but made from another network).
 * A `model.onnx` that is not an ONNX model counts as stale.
 */
export function onnxModelFor(model: tf.LayersModel, dir: string | undefined): { bytes: Uint8Array; source: OnnxSource } {
  const fingerprint = networkFingerprint(model);
  let onDisk: Uint8Array | undefined;
  if (dir) {
    try {
      onDisk = readFileSync(join(dir, ONNX_FILE));
    } catch {
      onDisk = undefined; // none written: export in memory
    }
  }
  if (onDisk) {
    let fileFingerprint: string | undefined;
    try {
      fileFingerprint = onnxMetadata(onDisk)[FINGERPRINT_KEY];
    } catch {
      fileFingerprint = undefined;
    }
    if (fileFingerprint === fingerprint) return { bytes: onDisk, source: 'file' };
  }
  return { bytes: exportWithFingerprint(model, fingerprint), source: onDisk ? 'exported-stale' : 'exported' };
}

/**
 * Exports `model` with its fingerprint and writes it (atomically) to `path`, by default `dir/model.onnx`.
 * @returns where it went, its size in bytes and the fingerprint it carries.
 */
export async function writeOnnxModel(
  model: tf.LayersModel,
  dir: string,
  path = join(dir, ONNX_FILE),
): Promise<{ path: string; bytes: number; fingerprint: string }> {
  const fingerprint = networkFingerprint(model);
  const bytes = exportWithFingerprint(model, fingerprint);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
  return { path, bytes: bytes.length, fingerprint };
}
