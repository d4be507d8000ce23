import { errorAt, type Diagnostic } from './diagnostic.js';
import type { SpecDocument } from './spec-document.js';

/**
 * The agent (VMA) of an image gets its per-VM secret on the kernel command
 * line, which qvd can only set for images it boots directly (`boot:`). The
 * secret is qvd's to make: a spec that writes one is refused. (qvd adds
 * `quiet` next to the secret when the line lacks it: see vma-secrets.ts.)
 */
export function checkImageAgent(document: SpecDocument): Diagnostic[] {
  const out: Diagnostic[] = [];
  document.images.forEach((image, i) => {
    const name = JSON.stringify(image.name);
    if (image.vma === true && image.boot === undefined) {
      out.push(
        errorAt(
          ['images', i, 'vma'],
          `images[${i}] ${name}: vma: true needs boot: the agent's secret is handed over on the kernel command line`,
          'Boot the image directly (boot: {kernel, initrd}), or set vma: false: its VMs are then ready when their NX port answers and get no session from qvd.',
        ),
      );
    }
    const cmdline = image.boot?.cmdline;
    if (cmdline !== undefined && /(^|\s)qvd\.vma_secret=/.test(cmdline)) {
      out.push(errorAt(['images', i, 'boot', 'cmdline'], `images[${i}] ${name}: boot.cmdline must not set qvd.vma_secret`, 'qvd makes a secret for every VM and adds it itself; a spec is no place for secrets.'));
    }
  });
  return out;
}
