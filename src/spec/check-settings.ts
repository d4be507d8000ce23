import type { DesiredNode } from './desired-state.js';
import { errorAt, warningAt, type Diagnostic } from './diagnostic.js';
import { parseDuration } from './durations.js';
import type { SpecDocument } from './spec-document.js';

export const DEFAULT_L7R_PORT = 8443;

/** Ports a node already uses for something the L7R must not shadow. */
const NODE_PORTS: readonly { readonly port: number; readonly use: string }[] = [
  { port: 16509, use: "libvirtd's TCP listener" },
  { port: 16514, use: "libvirtd's TLS listener" },
];

/**
 * Settings that contradict each other or the environment: the L7R port
 * against the nodes' SSH ports, authentication that can never succeed, a
 * database URL variable that is not set.
 */
export function checkSettings(document: SpecDocument, nodes: readonly DesiredNode[], env: NodeJS.ProcessEnv): Diagnostic[] {
  const out: Diagnostic[] = [];
  const settings = document.settings;
  const port = settings?.l7r?.port ?? DEFAULT_L7R_PORT;
  const portPath = settings?.l7r?.port === undefined ? ['settings'] : ['settings', 'l7r', 'port'];
  const sshClash = nodes.filter((n) => n.ssh.port === port && !n.local);
  const localClash = nodes.some((n) => n.local) && port === 22;
  if (sshClash.length > 0 || localClash) {
    const names = sshClash.map((n) => JSON.stringify(n.name)).join(', ');
    out.push(
      errorAt(
        portPath,
        `settings.l7r.port: ${port} is the SSH port of ${sshClash.length > 0 ? `node ${names}` : 'the local node'}`,
        'The L7R listens on every node; pick another port (the default is 8443).',
      ),
    );
  }
  for (const clash of NODE_PORTS) {
    if (clash.port === port) out.push(warningAt(portPath, `settings.l7r.port: ${port} is ${clash.use} on the nodes`));
  }
  if (port >= 5900 && port <= 5999) {
    out.push(warningAt(portPath, `settings.l7r.port: ${port} is in the range qemu gives VM consoles (5900-5999) on the nodes`));
  }

  const hkd = settings?.hkd;
  const seconds = (field: 'start_timeout' | 'stop_timeout' | 'heartbeat' | 'node_lost' | 'vma_ping', fallback: number): number => {
    const value = hkd?.[field];
    return value === undefined ? fallback : (parseDuration(value) ?? fallback);
  };
  for (const field of ['start_timeout', 'stop_timeout', 'heartbeat', 'vma_ping'] as const) {
    if (hkd?.[field] !== undefined && seconds(field, 1) === 0) out.push(errorAt(['settings', 'hkd', field], `settings.hkd.${field}: must be at least 1s`));
  }
  const heartbeat = seconds('heartbeat', 120);
  const nodeLost = seconds('node_lost', 600);
  if (heartbeat > 0 && nodeLost <= heartbeat) {
    out.push(
      errorAt(
        hkd?.node_lost === undefined ? ['settings', 'hkd', 'heartbeat'] : ['settings', 'hkd', 'node_lost'],
        `settings.hkd: node_lost (${nodeLost}s) must be longer than heartbeat (${heartbeat}s)`,
        'A node is declared lost after missing heartbeats; several should fit in node_lost (the default is 5).',
      ),
    );
  }

  const auth = settings?.auth;
  if (auth?.builtin === false && auth.ldap === undefined) {
    out.push(
      warningAt(['settings', 'auth', 'builtin'], 'settings.auth: builtin is false and no ldap is set: nobody can log in', 'Set builtin: true or configure ldap.'),
    );
  }

  const urlEnv = settings?.database?.postgres?.url_env;
  if (urlEnv !== undefined && (env[urlEnv] === undefined || env[urlEnv] === '')) {
    out.push(
      errorAt(
        ['settings', 'database', 'postgres', 'url_env'],
        `settings.database.postgres.url_env: the environment variable ${urlEnv} is not set`,
        `export ${urlEnv}=postgres://USER:PASSWORD@HOST:5432/DB`,
      ),
    );
  }
  return out;
}
