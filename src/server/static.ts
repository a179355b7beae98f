/**
 * The dashboard's static files. The public folder is listed and read once at start-up, and a request
 * is served only when its path names one of those files exactly: there is no path arithmetic on the
 * request, so `..`, encoded slashes, NUL bytes and symlinks cannot reach anything else.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bundled dashboard. */
export const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.ico': 'image/x-icon',
};

export interface StaticFile {
  readonly body: Buffer;
  readonly contentType: string;
}

/** The files of `dir` (regular files directly inside it, with a known type), by URL path. */
export function loadStaticFiles(dir: string = PUBLIC_DIR): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const type = TYPES[extname(entry.name)];
    if (!entry.isFile() || !type || entry.name.startsWith('.')) continue;
    files.set(`/${entry.name}`, { body: readFileSync(join(dir, entry.name)), contentType: type });
  }
  const index = files.get('/index.html');
  if (index) files.set('/', index);
  return files;
}
