import type { ObservedNode } from '../drivers/observed-state.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import type { DesiredNode, DesiredState } from '../spec/desired-state.js';
import type { StoreSnapshot } from '../state/store.js';
import { canonicalJson, sha256Hex } from './canonical-json.js';
import type { Change } from './change.js';
import { diffNode } from './diff-node.js';
import { diffRecords } from './diff-records.js';
import { nodeTarget } from './node-target.js';
import { PLAN_FORMAT_VERSION, summarize, type Plan } from './plan.js';
import { preflight } from './preflight.js';

export interface PlanInput {
  /** The nodes to converge and their connection details (for destroy: the spec's nodes). */
  readonly desired: DesiredState;
  readonly snapshot: StoreSnapshot;
  /** One entry per desired node: what it has, or why it could not be read. */
  readonly observed: ReadonlyMap<string, ObservedNode | Error>;
  /** Sizes of the local files an apply may upload, for the free-disk check. */
  readonly fileSizes?: ReadonlyMap<string, number>;
  readonly purgeHomes?: boolean;
  /** Tear down everything the spec manages instead of converging to it. */
  readonly destroy?: boolean;
  /** Limit the plan to these VM or node names (and what they depend on). */
  readonly targets?: readonly string[];
}

/** Pure: observed + desired + store → a Plan, or the diagnostics that forbid one. */
export function makePlan(input: PlanInput): Plan {
  const { desired, snapshot } = input;
  const destroy = input.destroy === true;
  const diagnostics: Diagnostic[] = [];
  const nodeChanges: Change[] = [];
  const unreachable: string[] = [];
  const unread: string[] = [];
  const planned = plannedNodes(desired, input.targets);
  const specVms = new Set(desired.vms.map((v) => v.name));
  for (const node of desired.nodes.filter((n) => planned.has(n.name))) {
    const o = input.observed.get(node.name);
    if (o === undefined || o instanceof Error) {
      unread.push(node.name);
      const transient = o !== undefined && isUnreachable(o);
      if (transient) unreachable.push(node.name);
      diagnostics.push({
        severity: 'error',
        node: node.name,
        summary: `node ${node.name}: cannot be observed: ${o?.message ?? 'not read'}`,
        detail: transient
          ? 'Its changes are unknown; the other nodes are planned and applied as usual. Check that the node is up and reachable over SSH.'
          : 'Fix this before applying: nothing is changed on any node while it stands.',
      });
      continue;
    }
    const target = nodeTarget(desired, node, o.facts.hardwareVirt, destroy ? [] : undefined);
    const diff = diffNode(destroy ? { ...target, imageFiles: [], volumes: [], domains: [] } : target, o, { purgeHomes: input.purgeHomes === true, destroy, specVms });
    diagnostics.push(...diff.diagnostics);
    if (!destroy) diagnostics.push(...preflight(o, diff.changes, uploadBytes(diff.changes, input.fileSizes)));
    nodeChanges.push(...diff.changes);
  }
  // Records of VMs on nodes left out (unreadable, blocked, not targeted) stay
  // as they are: the store must never claim a VM its node does not have.
  const leftOut = new Set([...unread, ...desired.nodes.filter((n) => !planned.has(n.name)).map((n) => n.name)]);
  const records = diffRecords(destroy ? undefined : desired, snapshot).filter((c) => {
    if (c.write.kind !== 'vm') return true;
    const oldNode = vmRecordNode(c, snapshot);
    const newNode = c.write.op === 'upsert' ? c.write.record.node : undefined;
    return !(oldNode !== undefined && leftOut.has(oldNode)) && !(newNode !== undefined && leftOut.has(newNode));
  });
  let changes: Change[] = [...nodeChanges, ...records];
  if (input.targets !== undefined && input.targets.length > 0) changes = selectTargets(changes, new Set(input.targets), desired);
  return {
    formatVersion: PLAN_FORMAT_VERSION,
    basis: { stateSerial: snapshot.serial, specHash: desired.specHash, observedFingerprint: fingerprint(changes) },
    changes,
    diagnostics: diagnostics.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1)),
    summary: summarize(changes),
    unreachableNodes: unreachable,
  };
}

/**
 * What the nodes' side of a plan depends on, as a hash of its node changes:
 * a saved plan is stale exactly when re-planning against the nodes now would
 * do something else.
 */
export function fingerprint(changes: readonly Change[]): string {
  return sha256Hex(canonicalJson(changes.filter((c) => c.kind !== 'record')));
}

/**
 * The nodes a plan looks at: every unblocked node (a blocked node is in
 * maintenance: qvd leaves it alone), or with --target only the named nodes and
 * the nodes of the named VMs.
 */
export function plannedNodes(desired: DesiredState, targets: readonly string[] | undefined): Set<string> {
  const open = desired.nodes.filter((n) => !n.blocked).map((n) => n.name);
  if (targets === undefined || targets.length === 0) return new Set(open);
  const t = new Set(targets);
  const wanted = new Set([...desired.nodes.filter((n) => t.has(n.name)).map((n) => n.name), ...desired.vms.filter((v) => t.has(v.name)).map((v) => v.node)]);
  return new Set(open.filter((n) => wanted.has(n)));
}

/** Down or unreachable (try again later), as opposed to misconfigured (fix first). */
export function isUnreachable(e: Error): boolean {
  const text = `${e.message} ${String((e as { code?: unknown }).code ?? '')} ${e.cause instanceof Error ? e.cause.message : ''}`;
  return /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET|timed out|unreachable|connection refused/i.test(text);
}

function uploadBytes(changes: readonly Change[], sizes: ReadonlyMap<string, number> | undefined): number {
  let total = 0;
  for (const c of changes) if (c.kind === 'image-file' && c.action !== 'delete' && c.source !== undefined) total += sizes?.get(c.source) ?? 0;
  return total;
}

function vmRecordNode(c: Change, s: StoreSnapshot): string | undefined {
  if (c.kind !== 'record' || c.write.kind !== 'vm') return undefined;
  const key = c.write.op === 'delete' ? c.write.key : c.write.record.name;
  return s.vms.find((v) => v.name === key)?.node;
}

/** `--target`: the named VMs or nodes, plus the shared objects they need on their nodes. */
function selectTargets(changes: readonly Change[], targets: ReadonlySet<string>, desired: DesiredState): Change[] {
  const nodes = new Set<string>(desired.nodes.filter((n: DesiredNode) => targets.has(n.name)).map((n) => n.name));
  const vmNodes = new Set(desired.vms.filter((v) => targets.has(v.name)).map((v) => v.node));
  const hit = (c: Change): boolean => {
    switch (c.kind) {
      case 'record':
        return c.write.kind === 'vm' && targets.has(c.write.op === 'delete' ? c.write.key : c.write.record.name);
      case 'volume':
      case 'domain':
      case 'power':
        return targets.has(c.vm) || nodes.has(c.node);
      case 'network':
      case 'pool':
      case 'image-file':
        return nodes.has(c.node) || (vmNodes.has(c.node) && c.action !== 'delete');
    }
  };
  return changes.filter(hit);
}
