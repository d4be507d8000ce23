import type { DesiredSettings } from '../spec/desired-state.js';

/**
 * Names of what qvd creates on a node. Everything it manages carries the `qvd-`
 * prefix (domains) or lives in its own pool, so that observe reads only that.
 */
export const DOMAIN_PREFIX = 'qvd-';
export const POOL_NAME = 'qvd';

export const domainName = (vm: string): string => `${DOMAIN_PREFIX}${vm}`;
export const vmOfDomain = (domain: string): string | undefined =>
  domain.startsWith(DOMAIN_PREFIX) ? domain.slice(DOMAIN_PREFIX.length) : undefined;

/** `name:tag` → `img-name-tag.qcow2`; `:` is not welcome in file names. */
export const imageVolume = (imageKey: string): string => `img-${imageKey.replace(':', '--')}.qcow2`;
export const imageKernelVolume = (imageKey: string): string => `img-${imageKey.replace(':', '--')}.kernel`;
export const imageInitrdVolume = (imageKey: string): string => `img-${imageKey.replace(':', '--')}.initrd`;
export const overlayVolume = (vm: string): string => `vm-${vm}-root.qcow2`;
export const homeVolume = (vm: string): string => `vm-${vm}-home.qcow2`;
export const serialLogPath = (storageDir: string, vm: string): string => `${storageDir}/vm-${vm}-console.log`;

export const networkName = (settings: DesiredSettings): string => settings.network.name;
