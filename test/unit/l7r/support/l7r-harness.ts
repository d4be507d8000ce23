import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import type { AuthProvider } from '../../../../src/l7r/auth-provider.js';
import { createBuiltinAuthProvider } from '../../../../src/l7r/builtin-auth-provider.js';
import { createL7rMetrics, type L7rMetrics } from '../../../../src/l7r/l7r-metrics.js';
import type { L7rLimits } from '../../../../src/l7r/l7r-limits.js';
import { createL7rServer, type L7rServer } from '../../../../src/l7r/l7r-server.js';
import type { ThrottleSettings } from '../../../../src/l7r/login-throttle.js';
import { ensureTlsMaterial, type TlsMaterial } from '../../../../src/l7r/tls-material.js';
import { startEchoServer } from './echo-server.js';
import { FakeBackend } from './fake-backend.js';

let material: Promise<TlsMaterial> | undefined;

/**
 * One self-signed pair, made by the code under test and cached in one fixed
 * temp directory shared by all test processes (its lock makes that safe):
 * per-process directories would be left behind when vitest kills a worker.
 */
export function testTls(): Promise<TlsMaterial> {
  material ??= ensureTlsMaterial(join(tmpdir(), 'qvd-l7r-test-tls'));
  return material;
}

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface Harness {
  readonly port: number;
  readonly backend: FakeBackend;
  readonly l7r: L7rServer;
  readonly logs: LogLine[];
  readonly logger: Logger;
  readonly metrics: L7rMetrics;
  readonly registry: Registry;
  readonly echo: Awaited<ReturnType<typeof startEchoServer>>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly limits?: Partial<L7rLimits>;
  readonly throttle?: Partial<ThrottleSettings>;
  readonly auth?: (backend: FakeBackend) => AuthProvider[];
  readonly setup?: (backend: FakeBackend) => void;
}

/** Users a@default, b@default, a@t1, a@t2 (password = "pw-" + key), each owning VMs; an L7R on a free loopback port. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const tls = await testTls();
  const echo = await startEchoServer();
  const backend = new FakeBackend({ host: echo.host, port: echo.port });
  for (const [login, tenant] of [['a', 'default'], ['b', 'default'], ['a', 't1'], ['a', 't2']] as const) {
    backend.addUser({ login, tenant, password: `pw-${login}@${tenant}` });
  }
  backend.addVm({ id: 1, owner: 'a@default', name: 'desk-a' });
  backend.addVm({ id: 2, owner: 'b@default', name: 'desk-b' });
  backend.addVm({ id: 3, owner: 'a@default', name: 'app-a', isApplication: true, state: 'running' });
  backend.addVm({ id: 11, owner: 'a@t1', name: 'desk-a-t1' });
  backend.addVm({ id: 12, owner: 'a@t2', name: 'desk-a-t2' });
  backend.addVm({ id: 4, owner: 'a@default', name: 'blocked-a', blocked: true });
  options.setup?.(backend);
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const registry = new Registry();
  const metrics = createL7rMetrics(registry);
  const l7r = createL7rServer({
    backend,
    tls: { cert: tls.cert, key: tls.key },
    auth: options.auth?.(backend) ?? [createBuiltinAuthProvider(backend)],
    logger,
    metrics,
    limits: options.limits ?? {},
    throttle: options.throttle ?? {},
  });
  const { port } = await l7r.listen(0, '127.0.0.1');
  return {
    port,
    backend,
    l7r,
    logs,
    logger,
    metrics,
    registry,
    echo,
    async close() {
      await l7r.close(0);
      await echo.close();
    },
  };
}

export function basic(login: string, password: string): string {
  return `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`;
}

/** A request as the original client writes it: CRLF lines, no Host header. */
export function request(target: string, headers: ReadonlyArray<readonly [string, string]> = []): string {
  return `GET ${target} HTTP/1.1\r\n${headers.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
}

export const CONNECT_HEADERS = [
  ['Connection', 'Upgrade'],
  ['Upgrade', 'QVD/1.0'],
] as const;

export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
