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

export function resolveImage(spec: SpecImage, specDir: string): DesiredImage {
  const boot = spec.boot;
  return {
    key: imageKey(spec.name, spec.tag),
    name: spec.name,
    tag: spec.tag ?? IMAGE_DEFAULTS.tag,
    source: absolutePath(specDir, spec.source),
    // Lower case so comparisons with computed digests never trip on case.
    sha256: spec.sha256.toLowerCase(),
    format: 'qcow2',
    memoryMb: spec.memory_mb ?? IMAGE_DEFAULTS.memoryMb,
    vcpus: spec.vcpus ?? IMAGE_DEFAULTS.vcpus,
    homeSizeMb: spec.home_size_mb ?? IMAGE_DEFAULTS.homeSizeMb,
    application: spec.application ?? false,
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
