import { DEFAULT_L7R_LIMITS } from '../l7r/l7r-limits.js';
import type { DesiredSettings } from './desired-state.js';
import { parseDuration } from './durations.js';
import { formatCidr, formatIpv4 } from './ipv4.js';
import type { ResolvedNetwork } from './resolve-network.js';
import { absolutePath } from './resolve-nodes.js';
import type { Duration, SpecSettings } from './spec-document.js';
import { DEFAULT_L7R_PORT } from './check-settings.js';

export const SETTINGS_DEFAULTS = {
  l7rAddress: '0.0.0.0',
  l7rPort: DEFAULT_L7R_PORT,
  l7rMaxConnections: DEFAULT_L7R_LIMITS.maxConnections,
  l7rMaxConnectionsPerAddress: DEFAULT_L7R_LIMITS.maxConnectionsPerAddress,
  startTimeout: 270,
  stopTimeout: 180,
  idleStop: 3600,
  heartbeat: 120,
  nodeLost: 600,
  maxParallelOps: 10,
  vmaPing: 120,
  vmaMaxFailures: 10,
  vmaDeadAfter: 320,
  sqlitePath: '.qvd/state.db',
  tokenTtl: 86400,
  ldapUserFilter: '(uid=%u)',
} as const;

/** The schema has already checked the format; a value it let through always parses. */
const seconds = (value: Duration | undefined, fallback: number): number => (value === undefined ? fallback : (parseDuration(value) ?? fallback));

export function resolveSettings(spec: SpecSettings | undefined, network: ResolvedNetwork, specDir: string): DesiredSettings {
  const tls = spec?.l7r?.tls;
  const ldap = spec?.auth?.ldap;
  const database = spec?.database;
  return {
    l7r: {
      address: spec?.l7r?.address ?? SETTINGS_DEFAULTS.l7rAddress,
      port: spec?.l7r?.port ?? SETTINGS_DEFAULTS.l7rPort,
      maxConnections: spec?.l7r?.max_connections ?? SETTINGS_DEFAULTS.l7rMaxConnections,
      maxConnectionsPerAddress: spec?.l7r?.max_connections_per_address ?? SETTINGS_DEFAULTS.l7rMaxConnectionsPerAddress,
      tls:
        tls === undefined || tls.cert === 'generate' || !('key' in tls)
          ? { generate: true }
          : { generate: false, cert: absolutePath(specDir, tls.cert), key: absolutePath(specDir, tls.key) },
    },
    network: {
      name: network.name,
      bridge: network.bridge,
      cidr: formatCidr(network.net),
      gateway: formatIpv4(network.gateway),
      prefix: network.net.prefix,
      dhcpStart: formatIpv4(network.dhcpStart),
      dhcpEnd: formatIpv4(network.dhcpEnd),
    },
    hkd: {
      startTimeout: seconds(spec?.hkd?.start_timeout, SETTINGS_DEFAULTS.startTimeout),
      stopTimeout: seconds(spec?.hkd?.stop_timeout, SETTINGS_DEFAULTS.stopTimeout),
      idleStop: seconds(spec?.hkd?.idle_stop, SETTINGS_DEFAULTS.idleStop),
      heartbeat: seconds(spec?.hkd?.heartbeat, SETTINGS_DEFAULTS.heartbeat),
      nodeLost: seconds(spec?.hkd?.node_lost, SETTINGS_DEFAULTS.nodeLost),
      maxParallelOps: spec?.hkd?.max_parallel_ops ?? SETTINGS_DEFAULTS.maxParallelOps,
      vmaPing: seconds(spec?.hkd?.vma_ping, SETTINGS_DEFAULTS.vmaPing),
      vmaMaxFailures: spec?.hkd?.vma_max_failures ?? SETTINGS_DEFAULTS.vmaMaxFailures,
      vmaDeadAfter: seconds(spec?.hkd?.vma_dead_after, SETTINGS_DEFAULTS.vmaDeadAfter),
    },
    database:
      database?.postgres !== undefined
        ? { kind: 'postgres', urlEnv: database.postgres.url_env }
        : { kind: 'sqlite', path: absolutePath(specDir, database?.sqlite ?? SETTINGS_DEFAULTS.sqlitePath) },
    auth: {
      builtin: spec?.auth?.builtin ?? true,
      tokenTtl: seconds(spec?.auth?.token_ttl, SETTINGS_DEFAULTS.tokenTtl),
      ...(ldap === undefined
        ? {}
        : {
            ldap: {
              url: ldap.url,
              baseDn: ldap.base_dn,
              userFilter: ldap.user_filter ?? SETTINGS_DEFAULTS.ldapUserFilter,
              bindDnTemplate: ldap.bind_dn_template ?? `uid=%u,${ldap.base_dn}`,
            },
          }),
    },
  };
}
