import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DesiredSource } from '../../../src/serve/desired-source.js';
import { differsFromRecorded, reloadedSettings } from '../../../src/serve/reloaded-settings.js';
import { desiredRecords } from '../../../src/reconcile/diff-records.js';
import type { DesiredState } from '../../../src/spec/desired-state.js';
import type { RuntimeStore } from '../../../src/state/runtime-store.js';
import { desiredFixture } from '../../support/desired-fixture.js';

const withIdleStop = (d: DesiredState, idleStop: number): DesiredState => ({ ...d, settings: { ...d.settings, hkd: { ...d.settings.hkd, idleStop } } });

describe('DesiredSource', () => {
  it('reloads the spec once the store serial moves, tells its listeners, and keeps the last good spec when it no longer loads', async () => {
    const first = desiredFixture();
    let serial = 1;
    let next: DesiredState | Error = withIdleStop(first, 600);
    const runtime = { serial: () => Promise.resolve(serial) } as unknown as RuntimeStore;
    const source = new DesiredSource(first, 1, () => (next instanceof Error ? Promise.reject(next) : Promise.resolve(next)), runtime, pino({ level: 'silent' }), 0);
    const seen: [number, number][] = [];
    source.onReload((now, before) => seen.push([before.settings.hkd.idleStop, now.settings.hkd.idleStop]));
    expect((await source.get()).settings.hkd.idleStop).toBe(3600);
    expect(seen).toEqual([]);
    serial = 2;
    expect((await source.get()).settings.hkd.idleStop).toBe(600);
    expect(seen).toEqual([[3600, 600]]);
    // The same serial again: no reload.
    next = withIdleStop(first, 60);
    expect((await source.get()).settings.hkd.idleStop).toBe(600);
    // A spec that fails to load: the last good one stays, listeners hear nothing.
    serial = 3;
    next = new Error('spec broken');
    expect((await source.get()).settings.hkd.idleStop).toBe(600);
    expect(seen).toEqual([[3600, 600]]);
  });

  it('a listener that throws does not stop the reload or the listeners after it', async () => {
    const first = desiredFixture();
    let serial = 1;
    const runtime = { serial: () => Promise.resolve(serial) } as unknown as RuntimeStore;
    const source = new DesiredSource(first, 1, () => Promise.resolve(withIdleStop(first, 5)), runtime, pino({ level: 'silent' }), 0);
    const heard: number[] = [];
    source.onReload(() => {
      throw new Error('boom');
    });
    source.onReload((now) => heard.push(now.settings.hkd.idleStop));
    serial = 2;
    expect((await source.get()).settings.hkd.idleStop).toBe(5);
    expect(heard).toEqual([5]);
  });
});

describe('differsFromRecorded', () => {
  it('names the settings in which this spec differs from the recorded ones, and none before any were recorded', () => {
    const d = desiredFixture();
    const recorded = desiredRecords(d).settings;
    expect(differsFromRecorded(d, recorded)).toEqual([]);
    expect(differsFromRecorded(d, undefined)).toEqual([]);
    expect(differsFromRecorded(withIdleStop(d, 60), recorded)).toEqual(['hkd.idle_stop']);
    const { 'auth.token_ttl': _gone, ...fewer } = recorded;
    expect(differsFromRecorded(d, fewer)).toEqual(['auth.token_ttl']);
  });
});

describe('reloadedSettings', () => {
  it('lists what changed, by the paths the spec spells', () => {
    const d = desiredFixture();
    const ldap = { url: 'ldap://127.0.0.1', baseDn: 'dc=x', userFilter: '(uid=%u)', bindDnTemplate: 'uid=%u,dc=x' };
    const next: DesiredState = {
      ...d,
      settings: {
        ...d.settings,
        hkd: { ...d.settings.hkd, idleStop: 60 },
        l7r: { ...d.settings.l7r, port: 9443, maxConnectionsPerAddress: 5, tls: { generate: false, cert: '/c.pem', key: '/k.pem' } },
        auth: { ...d.settings.auth, tokenTtl: 60, ldap },
      },
    };
    expect(reloadedSettings(d.settings, next.settings)).toEqual([
      'auth.ldap.base_dn',
      'auth.ldap.bind_dn_template',
      'auth.ldap.url',
      'auth.ldap.user_filter',
      'auth.token_ttl',
      'hkd.idle_stop',
      'l7r.max_connections_per_address',
      'l7r.port',
      'l7r.tls.cert',
      'l7r.tls.generate',
      'l7r.tls.key',
    ]);
    expect(reloadedSettings(d.settings, d.settings)).toEqual([]);
  });
});
