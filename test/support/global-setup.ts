import type { TestProject } from 'vitest/node';
import { buildTestImage, nodesDown, nodesUp, startLibvirt, type TestEnv } from './testenv.js';

declare module 'vitest' {
  export interface ProvidedContext {
    testenv: TestEnv;
  }
}

/**
 * Once per run: the host's libvirtd, two isolated test nodes and the cached
 * test guest image. Everything started here is stopped in the teardown,
 * whatever happened in between.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await startLibvirt();
  const image = await buildTestImage();
  const nodes = await nodesUp(2, `t${process.pid.toString(36)}n`);
  project.provide('testenv', { nodes, image });
  return async () => {
    await nodesDown(nodes);
  };
}
