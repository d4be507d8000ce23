import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { desiredRecords } from '../../../src/reconcile/diff-records.js';
import { makePlan } from '../../../src/reconcile/make-plan.js';
import { nodeTarget } from '../../../src/reconcile/node-target.js';
import { redactPlan } from '../../../src/reconcile/redact-plan.js';
import { renderPlanText } from '../../../src/reconcile/render-plan-text.js';
import { cmdlineWithSecret, maskVmaSecret } from '../../../src/reconcile/vma-cmdline.js';
import { resolve } from '../../../src/spec/resolve.js';
import type { DesiredState } from '../../../src/spec/desired-state.js';
import { deriveVmaSecret, withVmaSecrets } from '../../../src/spec/vma-secrets.js';
import type { SpecDocument } from '../../../src/spec/spec-document.js';
import { openStore } from '../../../src/state/open-store.js';
import { desiredFixture, emptyNode, observedFromTarget } from '../../support/desired-fixture.js';

const KEY = 'k'.repeat(64);
const booted = (over: Parameters<typeof desiredFixture>[0] = {}): DesiredState =>
  withVmaSecrets(desiredFixture({ images: [{ vma: true, boot: { kernel: '/k/vmlinuz', initrd: '/k/initrd', cmdline: 'console=ttyS0' } }], ...over }), KEY);

describe('VMA secrets', () => {
  it('are stable per store key and VM, 64 hex, and differ between VMs and stores', () => {
    const a = deriveVmaSecret(KEY, 'alice-desk');
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(deriveVmaSecret(KEY, 'alice-desk')).toBe(a);
    expect(deriveVmaSecret(KEY, 'bob-desk')).not.toBe(a);
    expect(deriveVmaSecret('x'.repeat(64), 'alice-desk')).not.toBe(a);
  });

  it('go only to VMs whose image runs the agent', () => {
    const d = withVmaSecrets(desiredFixture({ images: [{ name: 'desktop', vma: true }, { name: 'plain', vma: false }], vms: [{ name: 'a', image: 'desktop:default' }, { name: 'b', image: 'plain:default' }] }), KEY);
    expect(Object.keys(d.vmaSecrets ?? {})).toEqual(['a']);
  });

  it('reach the kernel command line through nodeTarget (with quiet), and plan no drift once applied', () => {
    const d = booted();
    const node = d.nodes[0]!;
    const dom = nodeTarget(d, node, false).domains.find((x) => x.vm.name === 'alice-desk');
    expect(dom?.config.cmdline).toBe(`console=ttyS0 quiet qvd.vma_secret=${deriveVmaSecret(KEY, 'alice-desk')}`);
    const observed = new Map(d.nodes.map((n) => [n.name, observedFromTarget(nodeTarget(d, n, false))]));
    const plan = makePlan({ desired: d, snapshot: { serial: 1, ...desiredRecords(d) }, observed });
    expect(plan.changes).toEqual([]);
  });

  it('never show in plan text or plan JSON, while the applied XML carries them', () => {
    const d = booted();
    const secret = deriveVmaSecret(KEY, 'alice-desk');
    const plan = makePlan({ desired: d, snapshot: { serial: 0, users: [], vms: [], nodes: [], images: [] }, observed: new Map(d.nodes.map((n) => [n.name, emptyNode(n.name)])) });
    const domain = plan.changes.find((c) => c.kind === 'domain' && c.vm === 'alice-desk');
    expect(domain?.kind === 'domain' ? domain.xml : '').toContain(secret);
    expect(renderPlanText(plan, { color: false })).not.toContain(secret);
    expect(renderPlanText(plan, { color: false })).toContain('qvd.vma_secret=(sensitive)');
    const shown = JSON.stringify(redactPlan(plan));
    expect(shown).not.toContain(secret);
    expect(shown).toContain('qvd.vma_secret=(sensitive)');
  });

  it('a changed secret reads as such, without showing either value', () => {
    const before = booted();
    const after = withVmaSecrets(before, 'z'.repeat(64));
    const observed = new Map(before.nodes.map((n) => [n.name, observedFromTarget(nodeTarget(before, n, false))]));
    const plan = makePlan({ desired: after, snapshot: { serial: 1, ...desiredRecords(after) }, observed });
    const attrs = plan.changes.flatMap((c) => c.attributes).filter((a) => a.name === 'cmdline');
    expect(attrs).toHaveLength(2);
    expect(attrs[0]).toEqual({ name: 'cmdline', before: 'console=ttyS0 quiet qvd.vma_secret=(sensitive)', after: 'console=ttyS0 quiet qvd.vma_secret=(sensitive) (secret changed)' });
  });

  it('cmdline helpers: quiet is added once, masking covers XML', () => {
    expect(cmdlineWithSecret('console=ttyS0 quiet', 'ab')).toBe('console=ttyS0 quiet qvd.vma_secret=ab');
    expect(cmdlineWithSecret('console=ttyS0', undefined)).toBe('console=ttyS0');
    expect(maskVmaSecret('<cmdline>console=ttyS0 quiet qvd.vma_secret=abc123</cmdline>')).toBe('<cmdline>console=ttyS0 quiet qvd.vma_secret=(sensitive)</cmdline>');
  });

  it('the spec: vma defaults to boot; vma without boot and a secret in the spec are refused', async () => {
    const doc = (images: SpecDocument['images']): SpecDocument => ({ version: 1, nodes: [{ name: 'n1', address: '10.0.0.1', local: true }], images, users: [], vms: [] });
    const ctx = { specDir: '/spec', specText: 't', env: {}, readFile: () => '' };
    const img = { name: 'desk', source: '/d.qcow2', sha256: 'a'.repeat(64) };
    const ok = await resolve(doc([{ ...img, boot: { kernel: '/k' } }, { ...img, name: 'own', vma: false, boot: { kernel: '/k' } }, { ...img, name: 'bios' }]), undefined, ctx);
    expect(ok.desired?.images.map((i) => [i.name, i.vma])).toEqual([['desk', true], ['own', false], ['bios', false]]);
    const bad = await resolve(doc([{ ...img, vma: true }, { ...img, name: 'leaky', boot: { kernel: '/k', cmdline: 'console=ttyS0 qvd.vma_secret=00' } }]), undefined, ctx);
    expect(bad.diagnostics.map((x) => x.summary)).toEqual([
      'images[0] "desk": vma: true needs boot: the agent\'s secret is handed over on the kernel command line',
      'images[1] "leaky": boot.cmdline must not set qvd.vma_secret',
    ]);
  });

  it('the store key is made once and then kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qvd-vmakey-'));
    try {
      const path = join(dir, 'state.db');
      const s1 = await openStore({ kind: 'sqlite', path });
      const s2 = await openStore({ kind: 'sqlite', path });
      const [a, b] = await Promise.all([s1.vmaKey(), s2.vmaKey()]);
      expect(a).toMatch(/^[0-9a-f]{64}$/);
      expect(b).toBe(a);
      expect(await s1.vmaKey()).toBe(a);
      await s1.close();
      await s2.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
