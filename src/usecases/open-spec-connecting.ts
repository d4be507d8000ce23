import type { DriverPool } from '../drivers/driver-pool.js';
import type { DesiredNode } from '../spec/desired-state.js';
import type { SpecDocument } from '../spec/spec-document.js';
import { openSpec, type OpenedSpecWithStore } from './open-spec.js';

/**
 * openSpec with the store, for plan and apply: the SSH handshakes to the
 * spec's nodes start as soon as it names them, and run while the store opens
 * and the rest of the spec is checked (nothing runs on a node until a command
 * does, after the lock for apply). When the spec fails, the connections
 * started are closed.
 */
export async function openSpecConnecting(file: string, drivers: DriverPool, targets: readonly string[]): Promise<OpenedSpecWithStore> {
  try {
    return await openSpec(file, { withStore: true, onNodes: (nodes, document) => drivers.prepare(nodesToPrepare(nodes, document, targets)) });
  } catch (error) {
    await drivers.close();
    throw error;
  }
}

/**
 * The nodes worth connecting to ahead (DriverPool.prepare) while the spec is
 * still being checked: remote, unblocked, and, with targets, named by one or
 * holding a targeted VM by the spec's own `node:`. A node left out here is
 * simply connected to when it is first used.
 */
function nodesToPrepare(nodes: readonly DesiredNode[], document: SpecDocument, targets: readonly string[]): DesiredNode[] {
  const open = nodes.filter((n) => !n.local && !n.blocked);
  if (targets.length === 0) return open;
  const t = new Set(targets);
  const named = new Set([...open.filter((n) => t.has(n.name)).map((n) => n.name), ...(document.vms ?? []).filter((v) => t.has(v.name) && v.node !== undefined).map((v) => v.node as string)]);
  return open.filter((n) => named.has(n.name));
}
