/** Locations inside the installed package. */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** The package root (where package.json, models/ and samples/ live). */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The bundled model, used when --model is not given. */
export const DEFAULT_MODEL_DIR = join(PACKAGE_ROOT, 'models', 'default');
/** The bundled sample recordings. */
export const SAMPLES_DIR = join(PACKAGE_ROOT, 'samples');
