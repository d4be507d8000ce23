import { constants } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import type { ChecksumCache } from './checksum-cache.js';
import { errorAt, warningAt, type Diagnostic } from './diagnostic.js';
import { readFailure } from './read-failure.js';
import { resolveImage } from './resolve-images.js';
import { absolutePath } from './resolve-nodes.js';
import type { SpecDocument } from './spec-document.js';

/** Images are hashed a few at a time: enough to overlap I/O, not enough to thrash a disk. */
const HASH_CONCURRENCY = 4;
const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

async function mapLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** What the first bytes say a non-qcow2 file is, to word the error usefully. */
function guessFormat(head: Buffer): string {
  if (head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa) return 'It looks like a raw disk image: convert it with `qemu-img convert -O qcow2 IN OUT`.';
  if (head.subarray(0, 4).toString('latin1') === 'KDMV') return 'It looks like a VMDK image: convert it with `qemu-img convert -O qcow2 IN OUT`.';
  if (head.subarray(0, 8).toString('latin1') === 'conectix') return 'It looks like a VHD image: convert it with `qemu-img convert -O qcow2 IN OUT`.';
  return 'qvd boots qcow2 images only; `qemu-img info FILE` tells what this one is.';
}

async function readHead(path: string, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function checkRegularFile(path: string, where: (string | number)[], owner: string): Promise<Diagnostic | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? undefined : errorAt(where, `${owner}: ${path} is not a regular file`);
  } catch (error) {
    return errorAt(where, `${owner}: cannot read ${path}: ${readFailure(error)}`);
  }
}

/**
 * Checks of the files the spec names on this machine: image sources
 * (present, qcow2, matching sha256), boot kernels and initrds, SSH keys.
 * The only I/O-heavy step of reading a spec; callers turn it off with
 * checkFiles: false (unit tests, or a spec edited on another machine).
 */
export async function preflightFiles(document: SpecDocument, specDir: string, cache: ChecksumCache): Promise<Diagnostic[]> {
  const out: Diagnostic[] = [];
  const images = document.images.map((m, i) => ({ i, image: resolveImage(m, specDir) }));

  await mapLimited(images, HASH_CONCURRENCY, async ({ i, image }) => {
    const owner = `images[${i}] ${JSON.stringify(image.key)}`;
    const source = image.source;
    let info;
    try {
      info = await stat(source);
    } catch (error) {
      out.push(errorAt(['images', i, 'source'], `${owner}: cannot read the source ${source}: ${readFailure(error)}`));
      return;
    }
    if (!info.isFile()) {
      out.push(errorAt(['images', i, 'source'], `${owner}: the source ${source} is not a regular file`));
      return;
    }
    try {
      const head = await readHead(source, 512);
      if (head.length < 4 || !head.subarray(0, 4).equals(QCOW2_MAGIC)) {
        out.push(errorAt(['images', i, 'source'], `${owner}: ${source} is not a qcow2 image`, guessFormat(head)));
        return;
      }
      const version = head.length >= 8 ? head.readUInt32BE(4) : 0;
      if (version !== 2 && version !== 3) {
        out.push(errorAt(['images', i, 'source'], `${owner}: ${source} is qcow2 version ${version}; only versions 2 and 3 are supported`));
        return;
      }
      if (head.length >= 16 && head.readBigUInt64BE(8) !== 0n) {
        out.push(
          warningAt(
            ['images', i, 'source'],
            `${owner}: ${source} has a backing file, which is not uploaded with it`,
            'Flatten it first: `qemu-img convert -O qcow2 IN OUT`.',
          ),
        );
      }
      const actual = await cache.sha256(source, info.size, info.mtimeMs);
      if (image.sha256 !== '' && actual !== image.sha256) {
        out.push(
          errorAt(
            ['images', i, 'sha256'],
            `${owner}: the sha256 of ${source} is ${actual}, not ${image.sha256}`,
            `If the image changed on purpose, write sha256: ${actual}`,
          ),
        );
      }
    } catch (error) {
      out.push(errorAt(['images', i, 'source'], `${owner}: cannot read ${source}: ${readFailure(error)}`));
    }
  });

  for (const [i, spec] of document.images.entries()) {
    const owner = `images[${i}] ${JSON.stringify(images[i]?.image.key ?? spec.name)}`;
    for (const field of ['kernel', 'initrd'] as const) {
      const path = spec.boot?.[field];
      if (path === undefined) continue;
      const problem = await checkRegularFile(absolutePath(specDir, path), ['images', i, 'boot', field], owner);
      if (problem !== undefined) out.push(problem);
    }
  }

  for (const [n, node] of document.nodes.entries()) {
    const key = node.ssh?.private_key;
    if (key === undefined || node.local === true) continue;
    const path = absolutePath(specDir, key);
    const where = ['nodes', n, 'ssh', 'private_key'];
    const owner = `nodes[${n}] ${JSON.stringify(node.name)}`;
    const problem = await checkRegularFile(path, where, owner);
    if (problem !== undefined) {
      out.push(problem);
      continue;
    }
    try {
      await access(path, constants.R_OK);
    } catch (error) {
      out.push(errorAt(where, `${owner}: cannot read the SSH key ${path}: ${readFailure(error)}`));
    }
  }
  return out;
}
