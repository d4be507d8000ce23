// NODE_EXTRA_CA_CERTS makes every Node process parse that CA bundle before
// any JavaScript runs (~50 ms here for Debian's whole ca-certificates.crt).
// The sandboxes these benches run in set it for their own proxy; an admin's
// shell on a node does not, and the peers (Terraform, Ansible, ssh) are not
// Node programs. So the benches measure the tax once, say so, and run every
// timed process without the variable.
import { spawnSync } from 'node:child_process';

function nodeStartMs(env: NodeJS.ProcessEnv): number {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    spawnSync(process.execPath, ['-e', '0'], { env, stdio: 'ignore' });
    times.push(performance.now() - s);
  }
  return times.sort((a, b) => a - b)[2] ?? NaN;
}

/** Removes NODE_EXTRA_CA_CERTS from this process's environment (and so from every child); returns the line that says so. */
export function dropCaCertsTax(): string {
  const file = process.env['NODE_EXTRA_CA_CERTS'];
  if (file === undefined || file === '') return 'NODE_EXTRA_CA_CERTS: not set';
  const withIt = nodeStartMs(process.env);
  const { NODE_EXTRA_CA_CERTS: _, ...without } = process.env;
  const withoutIt = nodeStartMs(without);
  delete process.env['NODE_EXTRA_CA_CERTS'];
  return `NODE_EXTRA_CA_CERTS=${file} is set here: it costs every Node process ${(withIt - withoutIt).toFixed(0)} ms at start (node -e 0: ${withIt.toFixed(0)} vs ${withoutIt.toFixed(0)} ms); the timed processes run without it, as on a node`;
}
