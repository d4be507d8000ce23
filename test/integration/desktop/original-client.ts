import { randomInt } from 'node:crypto';
import { startNxTunnel } from '../../../src/client/nx-tunnel.js';
import type { ClientSession } from '../../../src/client/connect-options.js';
import { QvdWireClient } from '../serve/qvd-wire-client.js';
import type { UserDisplay } from './desktop-harness.js';

/** What the original QVD command-line client puts in its connect request (shuffled per run, as it does). */
const CLIENT_PARAMS: readonly (readonly [string, string])[] = [
  ['qvd.client.keyboard', 'pc105/es'],
  ['qvd.client.os', 'linux'],
  ['qvd.client.link', 'local'],
  ['qvd.client.geometry', '1024x768'],
  ['qvd.client.fullscreen', ''],
  ['qvd.client.printing.enabled', ''],
];

export interface OriginalSession {
  readonly session: ClientSession;
  readonly vmInfo: readonly string[];
  readonly slaveKey: string;
  /** Whether the 101 also offered our cookie header, which this client ignores. */
  readonly offeredCookie: boolean;
}

/**
 * The original QVD client as the reference observed it on the wire: no Host
 * header, `list_of_vm?` then `connect_to_vm` on the same TLS connection,
 * client parameters in a random order, any number of 102s, then 101; then
 * Debian's nxproxy in client mode WITHOUT a cookie (the original clients
 * never get one), piped into the raw stream. Only the L7R's cookie
 * injection can make nxagent in the VM accept that session.
 */
export async function connectAsOriginalClient(o: { host: string; port: number; user: string; password: string; vm: string; display: UserDisplay }): Promise<OriginalSession> {
  const client = await QvdWireClient.open(o.host, o.port);
  let handedOver = false;
  try {
    const auth = { Authorization: `Basic ${Buffer.from(`${o.user}:${o.password}`).toString('base64')}`, 'User-Agent': 'QVD/3.5 Linux', Accept: 'application/json' };
    const list = await client.request('/qvd/list_of_vm?', auth);
    if (list.status !== 200) throw new Error(`list_of_vm: ${list.status} ${list.body}`);
    const vm = (JSON.parse(list.body) as { id: number; name: string }[]).find((v) => v.name === o.vm);
    if (vm === undefined) throw new Error(`${o.vm} is not in ${o.user}'s list: ${list.body}`);

    const params = [...CLIENT_PARAMS];
    for (let i = params.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [params[i], params[j]] = [params[j]!, params[i]!];
    }
    const query = [`id=${vm.id}`, ...params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`)].join('&');
    client.socket.write(`GET /qvd/connect_to_vm?${query} HTTP/1.1\r\n${Object.entries({ ...auth, Connection: 'Upgrade', Upgrade: 'QVD/1.0' }).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    const vmInfo: string[] = [];
    for (;;) {
      const head = await client.head();
      if (head.status === 102) {
        vmInfo.push(head.headers['X-QVD-VM-Info'] ?? '');
        continue;
      }
      if (head.status !== 101) throw new Error(`connect_to_vm: ${head.status}`);
      const initial = client.detach();
      // nxproxy inherits this process's environment: give it the screen's X authority for the spawn.
      const xauthority = process.env['XAUTHORITY'];
      process.env['XAUTHORITY'] = o.display.authFile;
      const session = await startNxTunnel({ stream: client.socket, initial, cookie: undefined, display: `:${o.display.display}`, nxproxyPath: 'nxproxy' }).finally(() => {
        if (xauthority === undefined) delete process.env['XAUTHORITY'];
        else process.env['XAUTHORITY'] = xauthority;
      });
      handedOver = true;
      return { session, vmInfo, slaveKey: head.headers['X-QVD-Slave-Key'] ?? '', offeredCookie: (head.headers['X-QVD-NX-Cookie'] ?? '') !== '' };
    }
  } finally {
    if (!handedOver) client.close();
  }
}
