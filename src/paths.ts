/** Locations inside the installed package. */
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (where package.json, models/ and samples/ live). */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The bundled model, used when --model is not given. */
export const DEFAULT_MODEL_DIR = join(PACKAGE_ROOT, 'models', 'default');
/** The bundled sample recordings. */
export const SAMPLES_DIR = join(PACKAGE_ROOT, 'samples');

/**
 * Where a server writes the models it learns at run time, by default: the user's data folder
 * (`$XDG_DATA_HOME/soundee/models`, else `~/.local/share/soundee/models`; `%LOCALAPPDATA%\soundee\models`
 * on Windows, `~/Library/Application Support/soundee/models` on macOS), never inside the package.
 */
export function defaultLearnDir(
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
  platform: string = process.platform,
): string {
  const base =
    platform === 'win32'
      ? env.LOCALAPPDATA || join(home, 'AppData', 'Local')
      : platform === 'darwin'
        ? join(home, 'Library', 'Application Support')
        : env.XDG_DATA_HOME || join(home, '.local', 'share');
  return join(base, 'soundee', 'models');
}
