import { workDirOf } from '../usecases/open-spec.js';
import { createDriverFactory } from '../drivers/create-driver-factory.js';
import type { DriverFactory } from '../drivers/node-driver.js';

/** The real drivers, with their scratch files (known_hosts for libvirt) beside the spec's store. */
export function createNodeDrivers(specFile: string, opts: { trustOnFirstUse?: boolean } = {}): DriverFactory {
  return createDriverFactory({ workDir: workDirOf(specFile), trustOnFirstUse: opts.trustOnFirstUse === true });
}
