import type { NetworkDefinition } from './network-xml.js';

type Host = NetworkDefinition['hosts'][number];

/** What the network on the node has now: persistent config, and the running one when active. */
export interface CurrentNetwork {
  readonly config: NetworkDefinition;
  readonly live?: NetworkDefinition;
  readonly active: boolean;
  readonly autostart: boolean;
}

export type NetworkStep =
  | { readonly kind: 'define' }
  | { readonly kind: 'destroy' }
  | { readonly kind: 'start' }
  | { readonly kind: 'autostart' }
  | { readonly kind: 'host'; readonly op: 'add' | 'delete'; readonly host: Host; readonly live: boolean; readonly config: boolean };

/**
 * The smallest change that brings the node's network to `desired`:
 * - absent: define, start, autostart;
 * - bridge, address, prefix, range or forward differ: redefine, and restart
 *   when running (guests on it lose their link until they are restarted: rare,
 *   it only happens when settings.network changes);
 * - only DHCP hosts differ on a running network: `net-update` each host,
 *   live and in the config, with no restart (what a VM added or removed needs);
 * - inactive: redefine if anything differs, then start.
 */
export function planNetworkSteps(current: CurrentNetwork | undefined, desired: NetworkDefinition): NetworkStep[] {
  if (current === undefined) return [{ kind: 'define' }, { kind: 'start' }, { kind: 'autostart' }];
  const steps: NetworkStep[] = [];
  const baseChanged = !sameBase(current.config, desired) || (current.live !== undefined && !sameBase(current.live, desired));
  if (!current.active) {
    if (baseChanged || !sameHosts(current.config.hosts, desired.hosts)) steps.push({ kind: 'define' });
    steps.push({ kind: 'start' });
  } else if (baseChanged) {
    steps.push({ kind: 'define' }, { kind: 'destroy' }, { kind: 'start' });
  } else {
    const live = current.live ?? current.config;
    const liveDelta = hostDelta(live.hosts, desired.hosts);
    const configDelta = hostDelta(current.config.hosts, desired.hosts);
    if (sameHosts(live.hosts, current.config.hosts)) {
      steps.push(...liveDelta.map((change) => ({ kind: 'host' as const, ...change, live: true, config: true })));
    } else {
      steps.push(...liveDelta.map((change) => ({ kind: 'host' as const, ...change, live: true, config: false })));
      steps.push(...configDelta.map((change) => ({ kind: 'host' as const, ...change, live: false, config: true })));
    }
  }
  if (!current.autostart) steps.push({ kind: 'autostart' });
  return steps;
}

function sameBase(a: NetworkDefinition, b: NetworkDefinition): boolean {
  return a.bridge === b.bridge && a.address === b.address && a.prefix === b.prefix && a.forward === b.forward
    && a.dhcpRange?.start === b.dhcpRange?.start && a.dhcpRange?.end === b.dhcpRange?.end;
}

function hostKey(host: Host): string {
  return `${host.mac.toLowerCase()}|${host.ip}|${host.name ?? ''}`;
}

function sameHosts(a: readonly Host[], b: readonly Host[]): boolean {
  const keys = new Set(a.map(hostKey));
  return a.length === b.length && b.every((host) => keys.has(hostKey(host)));
}

/** Deletions first: a changed host (same MAC, new IP) must leave before it comes back, and an IP may move between MACs. */
function hostDelta(current: readonly Host[], desired: readonly Host[]): { op: 'add' | 'delete'; host: Host }[] {
  const want = new Set(desired.map(hostKey));
  const have = new Set(current.map(hostKey));
  return [
    ...current.filter((host) => !want.has(hostKey(host))).map((host) => ({ op: 'delete' as const, host })),
    ...desired.filter((host) => !have.has(hostKey(host))).map((host) => ({ op: 'add' as const, host })),
  ];
}
