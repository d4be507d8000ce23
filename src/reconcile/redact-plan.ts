import type { Change } from './change.js';
import type { Plan } from './plan.js';
import { maskVmaSecret } from './vma-cmdline.js';

/**
 * The plan as shown to people and scripts (`--json`): domain definitions
 * without the agent secrets. Attributes are masked already (diff-node.ts);
 * a saved plan file keeps the real values, since apply defines domains from
 * it (it is written 0600, like the store it derives from).
 */
export function redactPlan(plan: Plan): Plan {
  return { ...plan, changes: plan.changes.map(redactChange) };
}

function redactChange(c: Change): Change {
  if (c.kind !== 'domain') return c;
  const cmdline = c.config?.cmdline;
  return {
    ...c,
    ...(c.config === undefined || cmdline === undefined ? {} : { config: { ...c.config, cmdline: maskVmaSecret(cmdline) } }),
    ...(c.xml === undefined ? {} : { xml: maskVmaSecret(c.xml) }),
  };
}
