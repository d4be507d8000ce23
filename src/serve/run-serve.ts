import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { QvdError } from '../errors.js';
import { createDriverFactory } from '../drivers/create-driver-factory.js';
import { Hkd } from '../hkd/hkd.js';
import { AgentReadinessProbe } from '../hkd/agent-readiness-probe.js';
import { HttpVmaControl } from '../hkd/http-vma-control.js';
import { createBuiltinAuthProvider, createL7rServer, createLdapAuthProvider, ensureTlsMaterial, type AuthProvider, type L7rServer } from '../l7r/index.js';
import { fingerprintOf } from '../l7r/tls-material.js';
import type { DesiredState } from '../spec/desired-state.js';
import { openNotifier } from '../state/notifier-open.js';
import type { StoreConfig } from '../state/open-store.js';
import { openRuntimeStore } from '../state/runtime-open.js';
import { openSpec, type OpenedSpecWithStore } from '../usecases/open-spec.js';
import { startAdminServer, type AdminServer } from './admin-server.js';
import { DesiredSource } from './desired-source.js';
import { applyToL7r, differsFromRecorded, reloadedSettings, type L7rReload } from './reloaded-settings.js';
import { deriveRelayKey } from './relay-key.js';
import { ServeBackend } from './serve-backend.js';
import { createServeMetrics } from './serve-metrics.js';

/** How often serve looks whether an apply changed the store (DesiredSource reloads at most this often anyway). */
const SPEC_WATCH_MS = 2000;

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface ServeInput {
  readonly file: string;
  readonly node: string;
  readonly l7r: boolean;
  readonly hkd: boolean;
  /** Default: settings.l7r address and port. */
  readonly listen?: HostPort;
  /** `/metrics` and `/healthz`; null: none. */
  readonly adminListen: HostPort | null;
  readonly logger: Logger;
  readonly env?: NodeJS.ProcessEnv;
  /** How long SIGTERM lets open tunnels run before cutting them. */
  readonly drainMs?: number;
}

export interface RunningServe {
  readonly node: string;
  readonly l7rPort: number | undefined;
  readonly adminPort: number | undefined;
  readonly store: string;
  /** Read the L7R's certificate and key again (renewed files; SIGHUP): new handshakes use them, open connections keep theirs. */
  reloadTls(): Promise<void>;
  /** Stop accepting, drain tunnels (bounded), stop the HKD, release everything. Idempotent. */
  stop(): Promise<void>;
}

/**
 * `qvd serve` for one node: the HKD loop for that node and the L7R, sharing
 * one runtime store (one connection on SQLite) and one notifier.
 */
export async function startServe(input: ServeInput): Promise<RunningServe> {
  const env = input.env ?? process.env;
  const log = input.logger.child({ node: input.node });
  const opened = await openSpec(input.file, { withStore: true, env });
  const initialSerial = opened.snapshot.serial;
  const relayKey = deriveRelayKey(await opened.store.vmaKey());
  await opened.store.close();
  const desired = opened.desired;
  const me = desired.nodes.find((n) => n.name === input.node);
  if (me === undefined) {
    throw new QvdError(`node ${input.node} is not in ${input.file}`, { hint: `Nodes in the spec: ${desired.nodes.map((n) => n.name).join(', ') || '(none)'}` });
  }
  const config = storeConfig(desired, env);
  const cleanup: (() => Promise<unknown>)[] = [];
  const undo = async (): Promise<void> => {
    for (const c of cleanup.splice(0).reverse()) await c().catch((e: unknown) => log.warn({ err: e }, 'cleanup step failed'));
  };
  try {
    const runtime = await openRuntimeStore(config, { actor: `serve ${input.node} pid ${process.pid}` });
    cleanup.push(() => runtime.close());
    await runtime.syncVms();
    const notifier = openNotifier(config, (e) => log.warn({ err: e }, 'notification connection trouble (polling continues)'));
    cleanup.push(() => notifier.close());
    const warnIfStale = (o: OpenedSpecWithStore): void => {
      const settings = differsFromRecorded(o.desired, o.snapshot.settings);
      if (settings.length > 0) log.warn({ settings, file: input.file }, 'this spec file differs from the settings the last apply recorded: update this node\'s copy');
    };
    warnIfStale(opened);
    const reopen = async (): Promise<DesiredState> => {
      const o = await openSpec(input.file, { withStore: true, env });
      await o.store.close();
      warnIfStale(o);
      return o.desired;
    };
    const source = new DesiredSource(desired, initialSerial, reopen, runtime, log);
    let l7rReload: L7rReload | undefined;
    source.onReload((next, previous) => {
      const changed = reloadedSettings(previous.settings, next.settings);
      if (changed.length > 0) log.info({ changed }, 'settings reloaded');
      if (l7rReload !== undefined) void applyToL7r(next, changed, l7rReload);
    });
    // An apply in another process bumps the store's serial: look for it every few seconds, not only when
    // the HKD or a connect asks (a node's HKD may sleep for a heartbeat period).
    const watch = setInterval(() => void source.get().catch(() => undefined), SPEC_WATCH_MS);
    watch.unref();
    cleanup.push(async () => clearInterval(watch));
    const metrics = createServeMetrics();
    // One client of the VMs' agents for the HKD (health, stop) and the L7R (sessions).
    const vma = new HttpVmaControl();

    const backend = await ServeBackend.create({
      node: input.node,
      runtime,
      notifier,
      settings: async () => (await source.get()).settings,
      logger: log,
      metrics: metrics.backend,
      vma,
      vmaSecret: async (vm) => (await source.get()).vmaSecrets?.[vm],
    });
    cleanup.push(() => backend.close());

    let l7r: L7rServer | undefined;
    let l7rPort: number | undefined;
    let reloadTls = async (): Promise<void> => undefined;
    if (input.l7r) {
      const listen = input.listen ?? { host: desired.settings.l7r.address, port: desired.settings.l7r.port };
      const tls = await tlsFor(desired, input.file, me.address);
      const { maxConnections, maxConnectionsPerAddress } = desired.settings.l7r;
      l7r = createL7rServer({
        backend,
        tls,
        auth: authProviders(desired, backend),
        logger: log.child({ component: 'l7r' }),
        metrics: metrics.l7r,
        relayKey,
        limits: { maxConnections, maxConnectionsPerAddress },
      });
      l7rPort = (await l7r.listen(listen.port, listen.host)).port;
      const server = l7r;
      cleanup.push(() => server.close(input.drainMs ?? 10_000));
      // Users pin this fingerprint (`qvd connect --fingerprint`): say it where an operator sees it.
      log.info({ address: listen.host, port: l7rPort, fingerprint: fingerprintOf(tls.cert) }, 'L7R listening');
      reloadTls = async () => {
        try {
          const fresh = await tlsFor(source.current, input.file, me.address);
          server.setTls(fresh);
          log.info({ fingerprint: fingerprintOf(fresh.cert) }, 'L7R certificate loaded');
        } catch (error) {
          log.error({ err: error }, 'the L7R keeps its certificate: the new one could not be loaded');
        }
      };
      l7rReload = {
        server,
        log,
        providers: (next) => authProviders(next, backend),
        reloadTls,
        listenFixed: input.listen !== undefined,
        moved: (port) => {
          l7rPort = port;
        },
      };
    }

    let hkd: Hkd | undefined;
    if (input.hkd) {
      const driver = createDriverFactory({ workDir: join(dirname(opened.file), '.qvd') }).forNode(me);
      cleanup.push(() => driver.close());
      hkd = new Hkd({
        node: input.node,
        desired: () => source.get(),
        driver,
        runtime,
        notifier,
        logger: log,
        probe: new AgentReadinessProbe(vma),
        vma,
        metrics: metrics.hkd,
        // Where the other nodes' L7Rs relay to for VMs of this node (bracketed when IPv6, as parseL7rAddress reads it).
        l7rAddress: () => (l7rPort === undefined ? null : `${me.address.includes(':') ? `[${me.address}]` : me.address}:${l7rPort}`),
      });
      await hkd.start();
      const loop = hkd;
      cleanup.push(() => loop.stop());
      log.info({ store: runtime.location }, 'HKD running');
    }

    let admin: AdminServer | undefined;
    if (input.adminListen !== null) {
      admin = await startAdminServer(metrics.registry, input.adminListen, () => backend.serving);
      const a = admin;
      cleanup.push(() => a.close());
    }

    // Reverse order on stop: admin, HKD, L7R (drains tunnels), backend, notifier, store.
    let stopping: Promise<void> | undefined;
    return {
      node: input.node,
      get l7rPort() {
        return l7rPort;
      },
      adminPort: admin?.port,
      store: runtime.location,
      reloadTls: () => reloadTls(),
      stop: () => {
        stopping ??= (async () => {
          backend.stopServing();
          log.info('serve stopping');
          await undo();
          log.info('serve stopped');
        })();
        return stopping;
      },
    };
  } catch (error) {
    await undo();
    throw error;
  }
}

function storeConfig(desired: DesiredState, env: NodeJS.ProcessEnv): StoreConfig {
  const db = desired.settings.database;
  if (db.kind === 'sqlite') return { kind: 'sqlite', path: db.path };
  const url = env[db.urlEnv];
  if (url === undefined || url === '') throw new QvdError(`settings.database.postgres.url_env names ${db.urlEnv}, which is not set`);
  return { kind: 'postgres', url };
}

async function tlsFor(desired: DesiredState, file: string, address: string): Promise<{ cert: string; key: string }> {
  const tls = desired.settings.l7r.tls;
  if (!tls.generate) return { cert: await readFile(tls.cert, 'utf8'), key: await readFile(tls.key, 'utf8') };
  const ip = /^\d+\.\d+\.\d+\.\d+$/.test(address);
  return ensureTlsMaterial(join(dirname(file), '.qvd', 'tls'), { commonName: address, altNames: [ip ? `IP:${address}` : `DNS:${address}`] });
}

function authProviders(desired: DesiredState, backend: ServeBackend): AuthProvider[] {
  const auth = desired.settings.auth;
  const providers: AuthProvider[] = [];
  if (auth.builtin) providers.push(createBuiltinAuthProvider(backend));
  if (auth.ldap !== undefined) providers.push(createLdapAuthProvider({ url: auth.ldap.url, userDn: auth.ldap.bindDnTemplate }));
  return providers;
}
