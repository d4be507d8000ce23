import { readFileSync } from 'node:fs';
import type { DesiredImage } from './desired-state.js';
import { absolutePath } from './resolve-nodes.js';
import type { SpecImage } from './spec-document.js';
import { imageKey } from './spec-keys.js';

export const IMAGE_DEFAULTS = {
  tag: 'default',
  memoryMb: 1024,
  vcpus: 1,
  homeSizeMb: 1024,
  cmdline: 'console=ttyS0',
} as const;

/**
 * The expected digest: written in the spec, or read from a checksum file made
 * beside an image by its build (`sha256sum` output: the digest comes first).
 * Undefined with a reason when that file cannot give one.
 */
export function imageDigest(spec: SpecImage, specDir: string, readFile: (p: string) => string = (p) => readFileSync(p, 'utf8')): { digest?: string; problem?: string } {
  if (typeof spec.sha256 === 'string') return { digest: spec.sha256.toLowerCase() };
  const path = absolutePath(specDir, spec.sha256.file);
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    return { problem: `cannot read the checksum file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  const m = /^\s*([0-9a-fA-F]{64})(\s|$)/.exec(text);
  return m?.[1] === undefined ? { problem: `${path} does not start with a sha256 digest (64 hexadecimal digits)` } : { digest: m[1].toLowerCase() };
}

export function resolveImage(spec: SpecImage, specDir: string, readFile?: (p: string) => string): DesiredImage {
  const boot = spec.boot;
  return {
    key: imageKey(spec.name, spec.tag),
    name: spec.name,
    tag: spec.tag ?? IMAGE_DEFAULTS.tag,
    source: absolutePath(specDir, spec.source),
    // Lower case so comparisons with computed digests never trip on case.
    sha256: imageDigest(spec, specDir, readFile).digest ?? '',
    format: 'qcow2',
    memoryMb: spec.memory_mb ?? IMAGE_DEFAULTS.memoryMb,
    vcpus: spec.vcpus ?? IMAGE_DEFAULTS.vcpus,
    homeSizeMb: spec.home_size_mb ?? IMAGE_DEFAULTS.homeSizeMb,
    application: spec.application ?? false,
    // Only a directly booted kernel can be handed the agent's secret.
    vma: boot !== undefined && spec.vma !== false,
    ...(boot === undefined
      ? {}
      : {
          boot: {
            kernel: absolutePath(specDir, boot.kernel),
            ...(boot.initrd === undefined ? {} : { initrd: absolutePath(specDir, boot.initrd) }),
            cmdline: boot.cmdline ?? IMAGE_DEFAULTS.cmdline,
          },
        }),
  };
}
