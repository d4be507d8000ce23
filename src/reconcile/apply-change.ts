import type { NodeDriver } from '../drivers/node-driver.js';
import type { Change } from './change.js';
import { hashFile } from '../spec/checksum-cache.js';
import { renderNetworkXml } from './render-network-xml.js';

/** Carry out one node change through the node's driver. Every branch is idempotent. */
export async function applyNodeChange(driver: NodeDriver, c: Exclude<Change, { kind: 'record' }>): Promise<void> {
  switch (c.kind) {
    case 'network':
      if (c.action === 'delete') return driver.removeNetwork(c.name);
      if (c.desired === undefined) throw new Error(`network change without its desired definition`);
      return driver.ensureNetwork(c.name, renderNetworkXml(c.desired));
    case 'pool':
      return c.action === 'delete' ? driver.removePool(c.name) : driver.ensurePool(c.name, c.path);
    case 'image-file':
      if (c.action === 'delete') return driver.deleteVolume(c.pool, c.volume);
      if (c.source === undefined) throw new Error(`image change without a source file`);
      // New content under the same name: the overlays on the old one are rebuilt by the changes that follow.
      if (c.action === 'replace') await driver.deleteVolume(c.pool, c.volume);
      return driver.uploadImage(c.pool, c.volume, c.source, c.sha256 ?? (await hashFile(c.source)));
    case 'volume':
      switch (c.action) {
        case 'delete':
          return driver.deleteVolume(c.pool, c.volume);
        case 'update':
        case 'update-restart':
          if (c.capacityBytes === undefined) throw new Error('volume update without a capacity');
          return driver.resizeVolume(c.pool, c.volume, c.capacityBytes);
        case 'replace':
          await driver.deleteVolume(c.pool, c.volume);
          return createVolume(driver, c);
        case 'create':
          return createVolume(driver, c);
      }
      return;
    case 'domain':
      if (c.action === 'delete') return driver.undefineDomain(c.domain);
      if (c.xml === undefined) throw new Error('domain change without its XML');
      return driver.defineDomain(c.domain, c.xml);
    case 'power':
      return c.to === 'start' ? driver.startDomain(c.domain) : driver.stopDomain(c.domain, false);
  }
}

function createVolume(driver: NodeDriver, c: Extract<Change, { kind: 'volume' }>): Promise<void> {
  return driver.createVolume(c.pool, c.volume, {
    ...(c.capacityBytes === undefined ? {} : { capacityBytes: c.capacityBytes }),
    ...(c.backing === undefined ? {} : { backing: c.backing }),
  });
}
