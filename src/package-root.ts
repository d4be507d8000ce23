import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * The directory holding qvd's package.json. The same module runs from src/
 * (tests), dist/ (tsc) and dist/qvd/chunks/ (the bundled CLI), so files
 * shipped beside the code (schemas/) are found by walking up, not by a fixed
 * relative path.
 */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'schemas', 'qvd.schema.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`qvd's package root (with schemas/) is not above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  root = dir;
  return root;
}
