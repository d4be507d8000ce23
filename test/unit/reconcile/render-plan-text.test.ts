import { describe, expect, it } from 'vitest';
import { desiredRecords } from '../../../src/reconcile/diff-records.js';
import { makePlan } from '../../../src/reconcile/make-plan.js';
import { renderPlanText } from '../../../src/reconcile/render-plan-text.js';
import type { DesiredState } from '../../../src/spec/desired-state.js';
import { nodeTarget } from '../../../src/reconcile/node-target.js';
import { desiredFixture, observedFromTarget } from '../../support/desired-fixture.js';

const converged = (d: DesiredState) => new Map(d.nodes.map((n) => [n.name, observedFromTarget(nodeTarget(d, n, false))]));

const text = (desired: DesiredState, stored: DesiredState): string => {
  const plan = makePlan({ desired, snapshot: { serial: 1, ...desiredRecords(stored) }, observed: converged(desired) });
  return renderPlanText(plan, { color: false });
};

describe('plan text for settings', () => {
  const d = desiredFixture();

  it('names each changed setting as the spec spells it, and says serves reload them', () => {
    const later = { ...d, settings: { ...d.settings, hkd: { ...d.settings.hkd, idleStop: 600 } } };
    const out = text(later, d);
    expect(out).toContain('  ~ settings  (differs from the spec)\n        ~ hkd.idle_stop: 3600 -> 600\n');
    expect(out).toContain('Plan: 0 to add, 1 to change, 0 to destroy.');
    expect(out).toContain('Running `qvd serve`s take the new settings within seconds of the apply.\n');
  });

  it('shows several changed settings, each with its own line', () => {
    const later = { ...d, settings: { ...d.settings, l7r: { ...d.settings.l7r, port: 9443, maxConnections: 500 } } };
    const out = text(later, d);
    expect(out).toContain('~ l7r.port: 8443 -> 9443');
    expect(out).toContain('~ l7r.max_connections: 10000 -> 500');
    expect(out).toContain('Plan: 0 to add, 1 to change, 0 to destroy.');
  });

  it('shows nothing for settings that match', () => {
    expect(text(d, d)).toBe('No changes. The nodes and the store match the spec.\nPlan: 0 to add, 0 to change, 0 to destroy.\n');
  });
});
