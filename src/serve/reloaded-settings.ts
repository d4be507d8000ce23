import type { Logger } from 'pino';
import type { AuthProvider, L7rServer } from '../l7r/index.js';
import type { DesiredState } from '../spec/desired-state.js';
import type { StoreSnapshot } from '../state/store.js';
import { changedSettings, flattenSettings } from '../spec/settings-record.js';

/** The settings that differ between two desired states, by path (`hkd.idle_stop`). */
export function reloadedSettings(previous: DesiredState['settings'], next: DesiredState['settings']): readonly string[] {
  return changedSettings(flattenSettings(previous), flattenSettings(next));
}

/**
 * Settings in which this node's spec file differs from what the last apply
 * recorded in the store: in a cluster every node's serve reads its own copy
 * of the spec, and a copy left behind keeps the node on old settings.
 */
export function differsFromRecorded(desired: DesiredState, recorded: StoreSnapshot['settings']): readonly string[] {
  return recorded === undefined ? [] : changedSettings(recorded, flattenSettings(desired.settings));
}

export interface L7rReload {
  readonly server: L7rServer;
  readonly log: Logger;
  /** The login providers the new spec names. */
  readonly providers: (desired: DesiredState) => AuthProvider[];
  /** Read the certificate and key the current spec names and hand them to the server (logs its own failures). */
  readonly reloadTls: () => Promise<void>;
  /** `--listen` was given: the spec's address and port are not used. */
  readonly listenFixed: boolean;
  /** The L7R now accepts on this port. */
  readonly moved: (port: number) => void;
}

/**
 * What a reloaded spec (`changed`: see reloadedSettings) changes in a running L7R, applied at once: the
 * connection caps, the login providers, the certificate, and where it
 * listens (open connections and tunnels stay where they are).
 */
export async function applyToL7r(next: DesiredState, changed: readonly string[], o: L7rReload): Promise<void> {
  const { l7r } = next.settings;
  o.server.setConnectionCaps({ maxConnections: l7r.maxConnections, maxConnectionsPerAddress: l7r.maxConnectionsPerAddress });
  if (changed.some((name) => name.startsWith('auth.'))) o.server.setAuthProviders(o.providers(next));
  if (changed.some((name) => name.startsWith('l7r.tls.'))) await o.reloadTls();
  if (!o.listenFixed && changed.some((name) => name === 'l7r.address' || name === 'l7r.port')) {
    try {
      o.moved((await o.server.relisten(l7r.port, l7r.address)).port);
    } catch (error) {
      o.log.error({ err: error, address: l7r.address, port: l7r.port }, 'the L7R cannot listen there; it stays where it was');
    }
  }
}
