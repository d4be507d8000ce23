import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

interface Entry {
  readonly size: number;
  readonly mtimeMs: number;
  readonly sha256: string;
}

interface CacheFile {
  readonly version: 1;
  readonly entries: Record<string, Entry>;
}

/**
 * sha256 of image files, remembered by (absolute path, size, mtime): images
 * are gigabytes and a no-op plan must not re-read them. A file rewritten in
 * place changes its mtime, which is what invalidates an entry.
 */
export class ChecksumCache {
  private dirty = false;

  private constructor(
    private readonly file: string | undefined,
    private readonly entries: Map<string, Entry>,
  ) {}

  /** Loads the cache file; a missing or unreadable one starts empty (it is only a cache). */
  static async open(file: string | undefined): Promise<ChecksumCache> {
    const entries = new Map<string, Entry>();
    if (file !== undefined) {
      try {
        const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<CacheFile>;
        if (parsed.version === 1 && typeof parsed.entries === 'object' && parsed.entries !== null) {
          for (const [path, e] of Object.entries(parsed.entries)) {
            if (typeof e?.size === 'number' && typeof e.mtimeMs === 'number' && typeof e.sha256 === 'string') entries.set(path, e);
          }
        }
      } catch {
        // Absent or corrupt: rebuilt as files are hashed.
      }
    }
    return new ChecksumCache(file, entries);
  }

  /** The file's sha256 (hex), from the cache when size and mtime still match, else by reading it. */
  async sha256(path: string, size: number, mtimeMs: number): Promise<string> {
    const known = this.entries.get(path);
    if (known !== undefined && known.size === size && known.mtimeMs === mtimeMs) return known.sha256;
    const sha256 = await hashFile(path);
    this.entries.set(path, { size, mtimeMs, sha256 });
    this.dirty = true;
    return sha256;
  }

  /** Writes the cache back when it changed (write then rename: a crash never leaves half a file). */
  async save(): Promise<void> {
    if (!this.dirty || this.file === undefined) return;
    const content: CacheFile = { version: 1, entries: Object.fromEntries(this.entries) };
    const temporary = `${this.file}.${process.pid}.tmp`;
    try {
      await mkdir(dirname(this.file), { recursive: true });
      await writeFile(temporary, JSON.stringify(content));
      await rename(temporary, this.file);
      this.dirty = false;
    } catch {
      // A cache that cannot be written costs time on the next run, nothing else.
    }
  }
}

/** Streams the file through sha256 (images do not fit in memory). */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
