import { NodeError } from '../../errors.js';
import type { ObserveScope } from '../node-driver.js';
import type { DomainPower, NodeFacts, ObservedDomain, ObservedLeftover, ObservedNetwork, ObservedNode, ObservedPool, ObservedVolume } from '../observed-state.js';
import { parseDomainXml } from './domain-xml.js';
import { parseNetworkXml } from './network-xml.js';
import { parsePoolXml, parseVolumeXml } from './storage-xml.js';
import { errorMessage } from './libvirt-errors.js';
import { keyValues, lines } from './virsh-listing.js';

export interface ObserveSection {
  readonly kind: string;
  readonly name: string;
  readonly body: string;
}

/** Splits the observe script's output at its marker lines. Text before the first marker is dropped. */
export function splitSections(output: string, token: string): ObserveSection[] {
  // Marker lines are found by search, not by splitting the output (hundreds of KiB) into lines.
  const prefix = `@@qvd:${token}:`;
  const marker = /^([a-z-]+):(.*)@@$/;
  const sections: ObserveSection[] = [];
  let current: { kind: string; name: string; from: number } | undefined;
  let at = output.startsWith(prefix) ? 0 : output.indexOf(`\n${prefix}`);
  if (at > 0) at++;
  while (at !== -1) {
    const lineEnd = output.indexOf('\n', at);
    const end = lineEnd === -1 ? output.length : lineEnd;
    const match = marker.exec(output.slice(at + prefix.length, end));
    const next = output.indexOf(`\n${prefix}`, end - 1);
    if (match !== null) {
      if (current !== undefined) sections.push({ kind: current.kind, name: current.name, body: output.slice(current.from, at).trim() });
      current = { kind: match[1] ?? '', name: match[2] ?? '', from: end };
    }
    at = next === -1 ? -1 : next + 1;
  }
  if (current !== undefined) sections.push({ kind: current.kind, name: current.name, body: output.slice(current.from).trim() });
  return sections;
}

/**
 * Turns the sections into an ObservedNode, normalised for the diff: only
 * qvd's network and pool, the pool's volumes without qvd's own sidecar
 * files, domains under the prefix with their config as DomainConfig.
 * One unreadable object becomes a problem in the facts (the rest of the node
 * is still true); output that cannot be trusted as a whole (libvirt
 * unreachable, cut short) is a NodeError.
 */
export function assembleObservedNode(
  node: string,
  scope: ObserveScope,
  sections: readonly ObserveSection[],
  extra: { sshHostKey?: NodeFacts['sshHostKey']; /** Filled with each domain's uuid (not part of the observation). */ domainUuids?: Map<string, string> } = {},
): ObservedNode {
  const problems: string[] = [];
  const one = (kind: string): ObserveSection | undefined => sections.find((s) => s.kind === kind);
  const fact = (name: string): string | undefined => sections.find((s) => s.kind === 'fact' && s.name === name)?.body;

  // Without these the lists below would be empty rather than unknown: a plan would try to create everything.
  if (one('end') === undefined) throw new NodeError(node, 'the observation of this node was cut short (no end marker in the output)', { hint: 'Look for a crash or a full disk on the node, and retry.' });
  const virshStderr = one('virsh-stderr')?.body ?? '';
  const version = /Running against daemon: (\S+)/.exec(one('version')?.body ?? '')?.[1];
  if ((fact('virsh') ?? '') === '') {
    throw new NodeError(node, 'virsh is not installed', { hint: 'Install libvirt on the node (Debian: apt-get install libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils).' });
  }
  if (version === undefined) {
    const reason = virshStderr.split('\n').find((l) => l.trim() !== '') ?? 'no answer';
    throw new NodeError(node, `cannot reach libvirtd: ${reason.replace(/^error: /, '')}`, { hint: 'Start libvirtd on the node and check that the SSH user may use qemu:///system (root, or the libvirt group).' });
  }

  const facts: { -readonly [K in keyof NodeFacts]: NodeFacts[K] } = {
    hardwareVirt: fact('cpu-virt') === 'yes' && fact('dev-kvm') === 'yes',
    qemuImg: (fact('qemu-img') ?? '') !== '',
    libvirtVersion: version,
  };
  const hostname = fact('hostname');
  if (hostname !== undefined && hostname !== '') facts.hostname = hostname;
  const free = Number(fact('free-bytes'));
  if (fact('free-bytes') !== undefined && fact('free-bytes') !== '' && Number.isFinite(free)) facts.freeDiskBytes = free;
  const traversable = fact('storage-traversable');
  if (traversable === 'yes' || traversable === 'no') facts.storageDirUsable = traversable === 'yes';
  if (extra.sshHostKey !== undefined) facts.sshHostKey = extra.sshHostKey;

  const networks: ObservedNetwork[] = [];
  const netXml = one('net-xml')?.body ?? '';
  if (netXml !== '') {
    try {
      const info = keyValues(one('net-info')?.body ?? '');
      networks.push({ ...parseNetworkXml(netXml), active: info.get('Active') === 'yes', autostart: info.get('Autostart') === 'yes' });
    } catch (error) {
      problems.push(`network ${scope.network}: unreadable XML: ${errorMessage(error)}`);
    }
  }

  const pools: ObservedPool[] = [];
  const poolXml = one('pool-xml')?.body ?? '';
  if (poolXml !== '') {
    try {
      const info = keyValues(one('pool-info')?.body ?? '');
      const pool = parsePoolXml(poolXml);
      pools.push({ name: pool.name, active: info.get('State') === 'running', path: pool.path });
    } catch (error) {
      problems.push(`pool ${scope.pool}: unreadable XML: ${errorMessage(error)}`);
    }
  }

  const sidecars = new Map<string, string>();
  for (const section of sections.filter((s) => s.kind === 'sidecar')) {
    const sum = section.body.split(/\s+/)[0]?.toLowerCase() ?? '';
    if (/^[0-9a-f]{64}$/.test(sum)) sidecars.set(section.name.replace(/\.sha256$/, ''), sum);
  }

  // Dumps of expected objects count only for those the listing had (see observe-script.ts).
  const guessOk = new Set(lines(one('guess-ok')?.body ?? ''));
  const dumped = (kind: 'vol' | 'dom', tag: 'v' | 'd'): ObserveSection[] => sections.filter((s) => s.kind === kind || (s.kind === `${kind}-guess` && guessOk.has(`${tag}:${s.name}`)));

  const volumes: ObservedVolume[] = [];
  for (const section of dumped('vol', 'v')) {
    if (section.body === '') continue; // vanished between listing and dumping
    try {
      const volume = parseVolumeXml(section.body, scope.pool);
      const sha256 = sidecars.get(volume.name);
      volumes.push(sha256 === undefined ? volume : { ...volume, sha256 });
    } catch (error) {
      problems.push(`volume ${scope.pool}/${section.name}: unreadable XML: ${errorMessage(error)}`);
    }
  }
  const byPath = new Map(volumes.map((v) => [v.path, { pool: v.pool, volume: v.name }]));

  const power = new Map<string, DomainPower>();
  for (const [kind, state] of [['domains-running', 'running'], ['domains-paused', 'paused'], ['domains-shutoff', 'stopped']] as const) {
    for (const name of lines(one(kind)?.body ?? '')) power.set(name, state);
  }
  const domains: ObservedDomain[] = [];
  for (const section of dumped('dom', 'd')) {
    if (section.body === '') continue;
    try {
      const parsed = parseDomainXml(section.body, (path) => byPath.get(path));
      const domain: { -readonly [K in keyof ObservedDomain]: ObservedDomain[K] } = { name: parsed.name, power: power.get(parsed.name) ?? 'other', config: parsed.config };
      if (parsed.managedVm !== undefined) domain.managedVm = parsed.managedVm;
      if (parsed.uuid !== undefined) extra.domainUuids?.set(parsed.name, parsed.uuid);
      domains.push(domain);
    } catch (error) {
      problems.push(`domain ${section.name}: unreadable XML: ${errorMessage(error)}`);
    }
  }
  for (const section of sections.filter((s) => s.kind === 'unsafe-name')) {
    problems.push(`${section.name} ${JSON.stringify(section.body)} has characters qvd does not handle in names; it was not read`);
  }

  const clock = Number(one('clock')?.body);
  const leftovers: ObservedLeftover[] = [];
  for (const section of sections.filter((s) => s.kind === 'leftover')) {
    const mtime = Number(section.body);
    if (section.body !== '' && Number.isFinite(mtime) && Number.isFinite(clock)) leftovers.push({ name: section.name, ageSeconds: Math.max(0, clock - mtime) });
  }

  if (problems.length > 0) facts.problems = problems;
  return {
    node,
    facts,
    networks,
    pools,
    volumes: volumes.sort(byName),
    domains: domains.sort(byName),
    ...(leftovers.length === 0 ? {} : { leftovers: leftovers.sort(byName) }),
  };
}

/** Code-point order, not locale order: the fake and the real driver must list alike everywhere. */
export function byName(a: { readonly name: string }, b: { readonly name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
