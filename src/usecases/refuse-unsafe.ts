import { InvalidInputError } from '../errors.js';
import type { Plan } from '../reconcile/plan.js';

/**
 * A plan with errors other than unreachable nodes is refused before any node
 * is touched. Unreachable nodes do not stop the others: their work waits for
 * the next apply, and the run still ends with exit code 1.
 */
export function refuseUnsafe(plan: Plan): void {
  const unreachable = new Set(plan.unreachableNodes);
  const blocking = plan.diagnostics.filter((d) => d.severity === 'error' && !(d.node !== undefined && unreachable.has(d.node)));
  if (blocking.length > 0) {
    throw new InvalidInputError(`refusing to apply: ${blocking.length} problem(s) must be fixed first; nothing was changed`, blocking);
  }
}
