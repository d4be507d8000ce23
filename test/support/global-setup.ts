import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { buildTestImage, nodesDown, nodesUp, REPO, startLibvirt, type TestEnv } from './testenv.js';

/** The desktop guest (scripts/build-desktop-image.sh), or why it could not be built. */
export type DesktopImageResult =
  | { readonly dir: string; readonly disk: string; readonly kernel: string; readonly initrd: string; readonly sha256: string; readonly cmdline: string }
  | { readonly error: string };

declare module 'vitest' {
  export interface ProvidedContext {
    testenv: TestEnv;
    desktopImage: DesktopImageResult;
  }
}

/**
 * The desktop image is cached (~0.3 s when present; ~2 min the first time,
 * from the Debian mirror). A failure is handed to the tests that need the
 * image instead of failing every integration test.
 */
async function buildDesktopImage(): Promise<DesktopImageResult> {
  try {
    const { stdout } = await promisify(execFile)('bash', [join(REPO, 'scripts/build-desktop-image.sh'), process.env['QVD_TEST_IMAGE_CACHE'] ?? '/var/cache/qvd-test'], { timeout: 900_000, maxBuffer: 64 << 20 });
    return JSON.parse(stdout.trim().split('\n').pop() ?? '') as DesktopImageResult;
  } catch (e) {
    const err = e as Error & { stderr?: string };
    return { error: `scripts/build-desktop-image.sh failed: ${err.message}\n${(err.stderr ?? '').slice(-4000)}` };
  }
}

/**
 * Once per run: the host's libvirtd, two isolated test nodes and the cached
 * test guest images. Everything started here is stopped in the teardown,
 * whatever happened in between.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await startLibvirt();
  const [image, desktopImage] = await Promise.all([buildTestImage(), buildDesktopImage()]);
  const nodes = await nodesUp(2, `t${process.pid.toString(36)}n`);
  project.provide('testenv', { nodes, image });
  project.provide('desktopImage', desktopImage);
  return async () => {
    await nodesDown(nodes);
  };
}
