import { describe, expect, it } from 'vitest';
import { closestMatch, editDistance } from '../../../src/spec/did-you-mean.js';
import { parseDuration } from '../../../src/spec/durations.js';
import { expandedNodeCount, mayHaveAnchors } from '../../../src/spec/expansion-guard.js';
import { fnv1a32, pairWeight } from '../../../src/spec/fast-hash.js';
import { formatIpv4, inNetwork, parseCidr, parseIpv4 } from '../../../src/spec/ipv4.js';
import { formatPath, pathFromJsonPointer } from '../../../src/spec/spec-path.js';
import { imageKey, imageKeyFromRef, userKey, userKeyFromRef } from '../../../src/spec/spec-keys.js';
import { sortDiagnostics } from '../../../src/spec/sort-diagnostics.js';

describe('durations', () => {
  it.each([
    [90, 90],
    ['90s', 90],
    ['5m', 300],
    ['2h', 7200],
    ['1h30m', 5400],
    ['1d2h3m4s', 93784],
    ['0s', 0],
  ] as const)('%s is %i seconds', (input, seconds) => expect(parseDuration(input)).toBe(seconds));

  it.each(['', '1 h', '90', 'h', '1m1h', '-5s'])('rejects %j', (input) => expect(parseDuration(input)).toBeUndefined());
});

describe('ipv4', () => {
  it('parses and formats', () => {
    expect(parseIpv4('10.3.15.20')).toBe(0x0a030f14);
    expect(formatIpv4(0xffffffff)).toBe('255.255.255.255');
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4('10.0.100.9')).toBe(0x0a006409);
    for (const bad of ['10.3.15', '10.3.15.256', '01.2.3.4', '1.2.3.00', 'a.b.c.d', '1.2.3.4.5', '', '1..2.3', '.1.2.3', '1.2.3.', ' 1.2.3.4', '1.2.3.4 ', '-1.2.3.4', '1.2.3.4/24', '1000.2.3.4', '１.2.3.4']) {
      expect(parseIpv4(bad), bad).toBeUndefined();
    }
  });

  it('parses networks', () => {
    const net = parseCidr('10.3.15.7/24');
    expect(net).toMatchObject({ network: 0x0a030f00, broadcast: 0x0a030fff, size: 256, prefix: 24, hostBitsSet: true });
    expect(parseCidr('0.0.0.0/0')).toMatchObject({ size: 2 ** 32, broadcast: 0xffffffff });
    expect(net && inNetwork(net, 0x0a030f01)).toBe(true);
    expect(net && inNetwork(net, 0x0a031001)).toBe(false);
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
  });
});

describe('names and paths', () => {
  it('keys users and images one way', () => {
    expect(userKey('alice', undefined)).toBe('alice');
    expect(userKey('alice', 'default')).toBe('alice');
    expect(userKey('alice', 'sales')).toBe('alice@sales');
    expect(userKeyFromRef('alice@default')).toBe('alice');
    expect(userKeyFromRef('alice@sales')).toBe('alice@sales');
    expect(imageKey('desk', undefined)).toBe('desk:default');
    expect(imageKeyFromRef('desk')).toBe('desk:default');
    expect(imageKeyFromRef('desk:v2')).toBe('desk:v2');
  });

  it('formats paths as users read them', () => {
    expect(formatPath(['vms', 3, 'power'])).toBe('vms[3].power');
    expect(formatPath(['nodes', 0, 'labels', 'a b'])).toBe('nodes[0].labels["a b"]');
    expect(formatPath([])).toBe('top level');
    expect(pathFromJsonPointer('/vms/3/a~1b~0c')).toEqual(['vms', 3, 'a/b~c']);
  });

  it('suggests close names only', () => {
    expect(closestMatch('bobby', ['bob', 'alice'])).toBe('bob');
    expect(closestMatch('adress', ['name', 'address'])).toBe('address');
    expect(closestMatch('Alice', ['alice'])).toBe('alice');
    expect(closestMatch('xyz', ['alice', 'bob'])).toBeUndefined();
    expect(editDistance('kitten', 'sitting', 5)).toBe(3);
    expect(editDistance('a', 'abcdefgh', 2)).toBe(3);
  });
});

describe('guards and hashes', () => {
  it('spots anchors cheaply, without mistaking URLs for them', () => {
    expect(mayHaveAnchors('a: &x 1\nb: *x\n')).toBe(true);
    expect(mayHaveAnchors('- &x [1]\n')).toBe(true);
    expect(mayHaveAnchors('uri: qemu+libssh://h/system?a=1&b=2\n')).toBe(false);
  });

  it('counts shared nodes once per reference, and stops at the budget', () => {
    const shared = [1, 2, 3];
    expect(expandedNodeCount({ a: shared, b: shared }, 100)).toBe(9);
    let bomb: unknown = ['x'];
    for (let i = 0; i < 40; i++) bomb = [bomb, bomb];
    expect(expandedNodeCount(bomb, 1000)).toBe(1001);
  });

  it('hashes stably (placement must not change between versions)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(pairWeight(fnv1a32('vm-1'), fnv1a32('node-1'))).toBe(pairWeight(fnv1a32('vm-1'), fnv1a32('node-1')));
  });

  it('sorts diagnostics by position', () => {
    const sorted = sortDiagnostics([
      { severity: 'error', summary: 'c', path: ['x'] },
      { severity: 'error', summary: 'b', range: { file: 'f', line: 9, column: 1 } },
      { severity: 'error', summary: 'a', range: { file: 'f', line: 2, column: 5 } },
      { severity: 'error', summary: 'file' },
    ]);
    expect(sorted.map((d) => d.summary)).toEqual(['file', 'a', 'b', 'c']);
  });
});
