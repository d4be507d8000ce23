import { describe, expect, it } from 'vitest';
import { planNetworkSteps } from '../../../src/drivers/libvirt/network-steps.js';
import type { NetworkDefinition } from '../../../src/drivers/libvirt/network-xml.js';

const h1 = { mac: '52:54:00:00:00:01', ip: '10.0.0.11', name: 'a' };
const h2 = { mac: '52:54:00:00:00:02', ip: '10.0.0.12', name: 'b' };
const h3 = { mac: '52:54:00:00:00:03', ip: '10.0.0.13', name: 'c' };
const def = (hosts: NetworkDefinition['hosts'], extra: Partial<NetworkDefinition> = {}): NetworkDefinition => ({
  name: 'qvd', bridge: 'qvdbr0', address: '10.0.0.1', prefix: 24, forward: false, dhcpRange: { start: '10.0.0.100', end: '10.0.0.200' }, hosts, ...extra,
});

describe('planNetworkSteps', () => {
  it('defines, starts and autostarts an absent network', () => {
    expect(planNetworkSteps(undefined, def([h1]))).toEqual([{ kind: 'define' }, { kind: 'start' }, { kind: 'autostart' }]);
  });

  it('does nothing when all matches', () => {
    expect(planNetworkSteps({ config: def([h1, h2]), live: def([h2, h1]), active: true, autostart: true }, def([h1, h2]))).toEqual([]);
  });

  it('updates hosts of a running network live and in the config, deletions first', () => {
    const moved = { ...h1, ip: '10.0.0.21' };
    expect(planNetworkSteps({ config: def([h1, h2]), live: def([h1, h2]), active: true, autostart: true }, def([moved, h3, h2]))).toEqual([
      { kind: 'host', op: 'delete', host: h1, live: true, config: true },
      { kind: 'host', op: 'add', host: moved, live: true, config: true },
      { kind: 'host', op: 'add', host: h3, live: true, config: true },
    ]);
  });

  it('fixes live and config separately when they drifted apart', () => {
    expect(planNetworkSteps({ config: def([h1]), live: def([h2]), active: true, autostart: true }, def([h1]))).toEqual([
      { kind: 'host', op: 'delete', host: h2, live: true, config: false },
      { kind: 'host', op: 'add', host: h1, live: true, config: false },
    ]);
  });

  it('redefines and restarts a running network whose addressing changed', () => {
    expect(planNetworkSteps({ config: def([h1]), live: def([h1]), active: true, autostart: true }, def([h1], { dhcpRange: { start: '10.0.0.50', end: '10.0.0.200' } }))).toEqual([{ kind: 'define' }, { kind: 'destroy' }, { kind: 'start' }]);
  });

  it('redefines an inactive network that differs, then starts and autostarts it', () => {
    expect(planNetworkSteps({ config: def([h1]), active: false, autostart: false }, def([h2]))).toEqual([{ kind: 'define' }, { kind: 'start' }, { kind: 'autostart' }]);
    expect(planNetworkSteps({ config: def([h1]), active: false, autostart: true }, def([h1]))).toEqual([{ kind: 'start' }]);
  });
});
