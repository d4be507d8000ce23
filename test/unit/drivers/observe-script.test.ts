import { describe, expect, it } from 'vitest';
import { observeScriptArgs } from '../../../src/drivers/libvirt/observe-script.js';

describe('observe script arguments', () => {
  const scope = { network: 'net', pool: 'qvd', storageDir: '/srv/qvd', domainPrefix: 'qvd-' };

  it('passes the six values, then the count of expected domains, the domains and the volumes', () => {
    expect(observeScriptArgs('tok', 'qemu:///system', { ...scope, expected: { domains: ['qvd-a', 'qvd-b'], volumes: ['vm-a-root.qcow2'] } })).toEqual([
      'tok', 'qemu:///system', 'net', 'qvd', '/srv/qvd', 'qvd-', '2', 'qvd-a', 'qvd-b', 'vm-a-root.qcow2',
    ]);
    expect(observeScriptArgs('tok', 'qemu:///system', scope)).toEqual(['tok', 'qemu:///system', 'net', 'qvd', '/srv/qvd', 'qvd-', '0']);
  });

  it('leaves out names virsh could misread, and stops where the first batch would grow too long', () => {
    const args = observeScriptArgs('tok', 'u', { ...scope, expected: { domains: ['qvd-a', 'qvd-b c', 'qvd-d;e'], volumes: ['x y.qcow2', 'ok.qcow2'] } });
    expect(args.slice(6)).toEqual(['1', 'qvd-a', 'ok.qcow2']);
    const many = Array.from({ length: 5000 }, (_, i) => `qvd-vm${String(i).padStart(5, '0')}`);
    const capped = observeScriptArgs('tok', 'u', { ...scope, expected: { domains: many, volumes: ['v.qcow2'] } });
    const n = Number(capped[6]);
    expect(n).toBeGreaterThan(300);
    expect(n).toBeLessThan(5000);
    expect(capped.slice(7)).toEqual(many.slice(0, n));
  });
});
