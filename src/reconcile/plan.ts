import type { Diagnostic } from '../spec/diagnostic.js';
import type { Change } from './change.js';

export const PLAN_FORMAT_VERSION = 1;

/**
 * What a plan was computed from. A saved plan is applied only while all three
 * still hold: the store's serial, and a fingerprint of what the nodes had.
 */
export interface PlanBasis {
  readonly stateSerial: number;
  readonly specHash: string;
  readonly observedFingerprint: string;
}

export interface PlanSummary {
  readonly add: number;
  readonly change: number;
  readonly destroy: number;
}

export interface Plan {
  readonly formatVersion: typeof PLAN_FORMAT_VERSION;
  readonly basis: PlanBasis;
  /** In the order they must run: within a node by dependency; store records last. */
  readonly changes: readonly Change[];
  /** Warnings found while planning (preflight); errors make no plan at all. */
  readonly diagnostics: readonly Diagnostic[];
  readonly summary: PlanSummary;
  /** Nodes whose observation failed: their changes are unknown. */
  readonly unreachableNodes: readonly string[];
}

/** Terraform's counting: a replace is one add and one destroy. */
export function summarize(changes: readonly Change[]): PlanSummary {
  let add = 0;
  let change = 0;
  let destroy = 0;
  for (const c of changes) {
    switch (c.action) {
      case 'create':
        add++;
        break;
      case 'update':
      case 'update-restart':
        change++;
        break;
      case 'replace':
        add++;
        destroy++;
        break;
      case 'delete':
        destroy++;
        break;
    }
  }
  return { add, change, destroy };
}
