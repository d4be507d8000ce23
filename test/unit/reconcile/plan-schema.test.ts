import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { desiredRecords } from '../../../src/reconcile/diff-records.js';
import { makePlan } from '../../../src/reconcile/make-plan.js';
import { nodeTarget } from '../../../src/reconcile/node-target.js';
import { desiredFixture, emptyNode, emptySnapshot, observedFromTarget } from '../../support/desired-fixture.js';

const schema = JSON.parse(readFileSync(new URL('../../../schemas/plan.schema.json', import.meta.url), 'utf8')) as object;
const validate = new Ajv2020({ strict: false }).compile(schema);

describe('plan JSON schema', () => {
  it('accepts plans with every kind of change', () => {
    const before = desiredFixture({ vms: [{ name: 'a', node: 'node1', power: 'running' }, { name: 'b', node: 'node2' }] });
    const after = desiredFixture({ vms: [{ name: 'a', node: 'node1' }, { name: 'c', node: 'node2' }], images: [{ sha256: 'c'.repeat(64), memoryMb: 2048 }] });
    const observed = new Map(before.nodes.map((n) => [n.name, observedFromTarget(nodeTarget(before, n, false), () => 'running')]));
    const plan = makePlan({ desired: after, snapshot: { serial: 3, ...desiredRecords(before) }, observed });
    const kinds = new Set(plan.changes.map((c) => c.kind));
    expect([...kinds].sort()).toEqual(['domain', 'image-file', 'network', 'power', 'record', 'volume']);
    expect(validate(JSON.parse(JSON.stringify(plan))), JSON.stringify(validate.errors)).toBe(true);
    const fresh = makePlan({ desired: after, snapshot: emptySnapshot, observed: new Map(after.nodes.map((n) => [n.name, emptyNode(n.name)])) });
    expect(validate(JSON.parse(JSON.stringify(fresh))), JSON.stringify(validate.errors)).toBe(true);
  });

  it('rejects a change of an unknown kind', () => {
    const d = desiredFixture();
    const plan = makePlan({ desired: d, snapshot: emptySnapshot, observed: new Map(d.nodes.map((n) => [n.name, emptyNode(n.name)])) });
    const broken = { ...plan, changes: [{ ...plan.changes[0], kind: 'teleport' }] };
    expect(validate(JSON.parse(JSON.stringify(broken)))).toBe(false);
  });
});
