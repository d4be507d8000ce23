import { describe, expect, it } from 'vitest';
import { ListrReporter } from '../../../src/cli/listr-reporter.js';
import { makePlan } from '../../../src/reconcile/make-plan.js';
import { desiredFixture, emptyNode, emptySnapshot } from '../../support/desired-fixture.js';

describe('ListrReporter', () => {
  it('follows every node to its end, failures included, and finishes', async () => {
    const d = desiredFixture();
    const plan = makePlan({ desired: d, snapshot: emptySnapshot, observed: new Map(d.nodes.map((n) => [n.name, emptyNode(n.name)])) });
    const writes: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    const writeErr = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((s: string) => (writes.push(String(s)), true)) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => (writes.push(String(s)), true)) as typeof process.stderr.write;
    try {
      const r = new ListrReporter(plan);
      for (const c of plan.changes.filter((x) => x.node === 'node1')) {
        r.step('node1', c.kind, 'started');
        r.step('node1', c.kind, 'done');
      }
      r.step('node2', 'create network qvd on node2', 'started');
      r.step('node2', 'create network qvd on node2', 'failed', 'boom');
      await r.finish();
    } finally {
      process.stdout.write = write;
      process.stderr.write = writeErr;
    }
    const out = writes.join('');
    expect(out).toContain('node1: 6 change(s) made');
    expect(out).toMatch(/node2: create network qvd on node2 failed/);
    // Nodes, images, users and VMs (7), and the settings.
    expect(out).toMatch(/store: 0\/8 change\(s\) made/);
  });
});
