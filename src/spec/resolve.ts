import { createHash } from 'node:crypto';
import type { StoreSnapshot } from '../state/store.js';
import { allocateIps, type IpRequest } from './allocate-ips.js';
import { checkCapacity } from './check-capacity.js';
import { checkDuplicates } from './check-duplicates.js';
import { checkReferences } from './check-references.js';
import { checkSettings } from './check-settings.js';
import { checkTls } from './check-tls.js';
import { checkVmIps } from './check-vm-ips.js';
import type { DesiredState, DesiredUser, DesiredVm } from './desired-state.js';
import { checkImageAgent } from './check-image-agent.js';
import { errorAt, hasErrors, type Diagnostic } from './diagnostic.js';
import { formatIpv4, macForIpv4, parseIpv4 } from './ipv4.js';
import { placeVms, type PlacementVm } from './place-vms.js';
import { imageDigest, resolveImage } from './resolve-images.js';
import { resolveNetwork } from './resolve-network.js';
import { resolveNode } from './resolve-nodes.js';
import { resolvePasswords } from './resolve-passwords.js';
import { resolveSettings } from './resolve-settings.js';
import type { SpecDocument } from './spec-document.js';
import { DEFAULT_TENANT, imageKeysFromRefs, userKey, userKeyFromRef } from './spec-keys.js';

/** Shared by every user and VM without properties: 10,000 empty objects are not free. */
const NO_PROPERTIES: Readonly<Record<string, string>> = Object.freeze({});

export interface ResolveContext {
  /** Directory of qvd.yaml: relative paths in it are relative to this. */
  readonly specDir: string;
  /** The file's text, hashed into DesiredState.specHash. */
  readonly specText: string;
  readonly env: NodeJS.ProcessEnv;
  /** Reads a small text file (password files, TLS PEM files); throws like fs.readFileSync. */
  readonly readFile: (path: string) => string;
}

export interface ResolveResult {
  /** Present only when there is no error. */
  readonly desired?: DesiredState;
  readonly diagnostics: Diagnostic[];
}

/**
 * Schema-valid document to DesiredState: cross-reference and value checks,
 * defaults, absolute paths, seconds, password hashes, and a node, IP and
 * MAC for every VM (kept from `snapshot` where still possible).
 * Async only because argon2id (hash-wasm) is; everything else is pure
 * apart from the injected env and readFile.
 */
export async function resolve(document: SpecDocument, snapshot: StoreSnapshot | undefined, context: ResolveContext): Promise<ResolveResult> {
  const { specDir } = context;
  const diagnostics: Diagnostic[] = [];
  const nodes = document.nodes.map((n) => resolveNode(n, specDir));
  const images = document.images.map((m) => resolveImage(m, specDir, context.readFile));
  const digestProblems = document.images.flatMap((m, i) => {
    const problem = imageDigest(m, specDir, context.readFile).problem;
    return problem === undefined ? [] : [errorAt(['images', i, 'sha256'], `images[${i}] ${JSON.stringify(m.name)}: ${problem}`)];
  });
  const specUsers = document.users ?? [];
  const specVms = document.vms ?? [];
  const network = resolveNetwork(document.settings?.network);
  const tls = checkTls(document, specDir, context.readFile);
  diagnostics.push(
    ...checkDuplicates(document),
    ...checkReferences(document),
    ...network.diagnostics,
    ...(network.network === undefined ? [] : checkVmIps(document, network.network)),
    ...checkCapacity(document, nodes, images),
    ...checkSettings(document, nodes, context.env),
    ...checkImageAgent(document),
    ...tls.diagnostics,
    ...digestProblems,
  );
  const passwords = await resolvePasswords(specUsers, context);
  diagnostics.push(...passwords.diagnostics);

  // Placement and addresses for the VMs whose references resolve; the others already have their diagnostic.
  const imageByKey = new Map(images.map((m) => [m.key, m]));
  const imageKeyOf = imageKeysFromRefs();
  const userKeys = new Set(specUsers.map((u) => userKey(u.login, u.tenant)));
  const previous = new Map((snapshot?.vms ?? []).map((r) => [r.name, r]));
  const placeable: PlacementVm[] = [];
  for (const vm of specVms) {
    const image = imageByKey.get(imageKeyOf(vm.image));
    if (image === undefined || !userKeys.has(userKeyFromRef(vm.user))) continue;
    const before = previous.get(vm.name);
    placeable.push({
      name: vm.name,
      node: vm.node,
      previousNode: before?.node,
      memoryMb: image.memoryMb,
      vcpus: image.vcpus,
      running: (vm.power ?? 'on-demand') === 'running',
    });
  }
  const placement = placeVms(
    placeable,
    nodes.map((n) => ({ name: n.name, blocked: n.blocked, maxVms: n.capacity.maxVms, memoryMb: n.capacity.memoryMb, vcpus: n.capacity.vcpus })),
  );
  // Where a VM sits in the spec, for diagnostics only: built on the first one.
  let positions: Map<string, number> | undefined;
  const indexOf = (vm: string): number => (positions ??= new Map(specVms.map((v, i) => [v.name, i]))).get(vm) ?? 0;
  const knownNodes = new Set(nodes.map((n) => n.name));
  for (const { vm, reason } of placement.unplaced) {
    const i = indexOf(vm);
    // A VM fixed on an unknown node is already reported by checkReferences.
    if (specVms[i]?.node !== undefined && !knownNodes.has(specVms[i]?.node ?? '')) continue;
    diagnostics.push(errorAt(['vms', i], `vms[${i}] ${JSON.stringify(vm)}: no node can take it: ${reason}`, 'Add a node, raise capacity.max_vms or capacity.memory_mb, or unblock a node.'));
  }

  let ipOf: ReadonlyMap<string, number> = new Map();
  if (network.network !== undefined) {
    const requests: IpRequest[] = specVms.map((vm) => {
      const ip = vm.ip === undefined ? undefined : parseIpv4(vm.ip);
      const previousIp = previous.get(vm.name)?.ip;
      const prior = previousIp === undefined ? undefined : parseIpv4(previousIp);
      return { name: vm.name, ip, previousIp: prior };
    });
    const allocation = allocateIps(requests, network.network);
    ipOf = allocation.ipOf;
    const { dhcpStart, dhcpEnd } = network.network;
    for (const vm of allocation.exhausted) {
      const i = indexOf(vm);
      diagnostics.push(
        errorAt(
          ['vms', i],
          `vms[${i}] ${JSON.stringify(vm)}: no free address left in dhcp_range ${formatIpv4(dhcpStart)}-${formatIpv4(dhcpEnd)} (${dhcpEnd - dhcpStart + 1} addresses)`,
          'Widen settings.network.dhcp_range (and cidr if needed), or give some VMs a fixed ip outside the range.',
        ),
      );
    }
  }

  if (hasErrors(diagnostics) || network.network === undefined) return { diagnostics };

  const users: DesiredUser[] = specUsers.map((u, i) => ({
    key: userKey(u.login, u.tenant),
    login: u.login,
    tenant: u.tenant ?? DEFAULT_TENANT,
    passwordHash: passwords.hashes[i] ?? '',
    blocked: u.blocked ?? false,
    properties: u.properties ?? NO_PROPERTIES,
  }));
  const vms: DesiredVm[] = specVms.map((vm) => {
    const ip = ipOf.get(vm.name) ?? 0;
    return {
      name: vm.name,
      user: userKeyFromRef(vm.user),
      image: imageKeyOf(vm.image),
      node: placement.nodeOf.get(vm.name) ?? '',
      nodePinned: vm.node !== undefined,
      ip: formatIpv4(ip),
      mac: macForIpv4(ip),
      power: vm.power ?? 'on-demand',
      persistent: vm.persistent ?? false,
      blocked: vm.blocked ?? false,
      properties: vm.properties ?? NO_PROPERTIES,
    };
  });
  const desired: DesiredState = {
    specHash: specHash(context.specText, [...passwords.externalSecrets, ...tls.contents]),
    settings: resolveSettings(document.settings, network.network, specDir),
    nodes,
    images,
    users,
    vms,
  };
  return { desired, diagnostics };
}

/**
 * The spec text plus what it pulls in from outside (passwords from env and
 * files, TLS files): a changed password variable must change the hash, or a
 * saved plan would apply stale credentials. Length-prefixed parts, so no two
 * different inputs concatenate to the same bytes.
 */
export function specHash(specText: string, external: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of [specText, ...external]) hash.update(`${Buffer.byteLength(part)}:`).update(part);
  return hash.digest('hex');
}
