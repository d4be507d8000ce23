import { describe, expect, it } from 'vitest';
import { connectPath } from '../../../src/client/client-params.js';
import { normalizeFingerprint } from '../../../src/client/fingerprint.js';
import { chooseVm, parseVmList } from '../../../src/client/vm-list.js';

describe('client parts', () => {
  it('normalises fingerprints', () => {
    const hex = 'a'.repeat(64);
    expect(normalizeFingerprint(hex.toUpperCase())).toBe(hex);
    expect(normalizeFingerprint((hex.match(/../g) ?? []).join(':'))).toBe(hex);
    expect(normalizeFingerprint(`SHA256:${Buffer.from(hex, 'hex').toString('base64')}`)).toBe(hex);
    expect(normalizeFingerprint('abc')).toBeUndefined();
    expect(normalizeFingerprint(`SHA256:${Buffer.alloc(16).toString('base64')}`)).toBeUndefined();
  });

  it('builds the connect_to_vm path', () => {
    expect(connectPath(3, { keyboard: 'pc105/es', geometry: '800x600' }, 'linux')).toBe('/qvd/connect_to_vm?id=3&qvd.client.os=linux&qvd.client.link=lan&qvd.client.geometry=800x600&qvd.client.keyboard=pc105%2Fes');
  });

  it('reads the VM list as the L7R sends it and chooses', () => {
    const vms = parseVmList('[{"id":1,"name":"a","state":"running","blocked":0},{"id":"2","name":"b","state":"stopped","blocked":1}]');
    expect(vms).toEqual([
      { id: 1, name: 'a', state: 'running', blocked: false },
      { id: 2, name: 'b', state: 'stopped', blocked: true },
    ]);
    expect(chooseVm(vms, 'a').id).toBe(1);
    expect(chooseVm(vms, '1').id).toBe(1);
    expect(() => chooseVm(vms, 2)).toThrow(/blocked/);
    expect(chooseVm(vms.slice(0, 1), undefined).id).toBe(1);
    expect(() => chooseVm([], undefined)).toThrow(/no VM/);
    expect(() => parseVmList('{}')).toThrow(/not a JSON array/);
  });
});
