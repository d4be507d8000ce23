import { connectPath } from './client-params.js';
import { ConnectError, statusError } from './connect-error.js';
import type { ConnectOptions, ConnectProgress, ConnectResult, QvdVm } from './connect-options.js';
import { HttpConnection, type HttpResponse } from './http-connection.js';
import { startNxTunnel } from './nx-tunnel.js';
import { openTls } from './tls-connect.js';
import { chooseVm, parseVmList } from './vm-list.js';

export const NX_COOKIE_HEADER = 'x-qvd-nx-cookie';
const USER_AGENT = 'qvd-client/0.1';

/**
 * `qvd connect`: log in to the L7R, pick the VM, ask for it over the same TLS
 * connection with `Upgrade: QVD/1.0`, show the server's 102 progress, and on
 * 101 run nxproxy through the now raw stream.
 *
 * The NX cookie comes from the server: the L7R generates it per connection,
 * gives it to the VMA's x_start and sends it back in the 101 head as
 * `X-QVD-NX-Cookie`. Without that header (an original QVD server) nxproxy
 * runs without a cookie.
 *
 * Transient failures (network, 5xx, a connection dropped before 101) are
 * retried, up to 5 attempts in all like the original client; a refused login,
 * a missing VM or a wrong certificate are not.
 */
export async function connect(options: ConnectOptions): Promise<ConnectResult> {
  const attempts = Math.max(1, options.attempts ?? 5);
  const progress = (stage: ConnectProgress['stage'], message: string): void => options.onProgress?.({ stage, message });
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptConnect(options, attempt, attempts, progress);
    } catch (e) {
      const err = e instanceof ConnectError ? e : new ConnectError('network', (e as Error).message, true, { cause: e });
      if (!err.retryable || attempt >= attempts || options.signal?.aborted === true) throw err;
      const delay = (options.retryDelayMs ?? 1000) * attempt;
      progress('retrying', `${err.message}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${attempts})`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

async function attemptConnect(o: ConnectOptions, attempt: number, attempts: number, progress: (stage: ConnectProgress['stage'], message: string) => void): Promise<ConnectResult> {
  const port = o.port ?? 8443;
  progress('connecting', `connecting to ${o.host}:${port}${attempts > 1 ? ` (attempt ${attempt} of ${attempts})` : ''}`);
  const socket = await openTls({
    host: o.host,
    port,
    timeoutMs: o.connectTimeoutMs ?? 15_000,
    ...(o.fingerprint === undefined ? {} : { fingerprint: o.fingerprint }),
    ...(o.ca === undefined ? {} : { ca: o.ca }),
    ...(o.signal === undefined ? {} : { signal: o.signal }),
  });
  let handedOver = false;
  const onAbort = (): void => {
    socket.destroy(new Error('cancelled'));
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const http = new HttpConnection(socket);
    const headers = {
      Host: `${o.host}:${port}`,
      Authorization: `Basic ${Buffer.from(`${o.user}:${o.password}`).toString('base64')}`,
      'User-Agent': USER_AGENT,
      Accept: 'application/json',
      Connection: 'keep-alive',
    };
    http.send('/qvd/list_of_vm', headers);
    const list = await http.read();
    if (list.status !== 200) throw statusError(list.status, list.reason, list.body, 'listing VMs');
    const vms = parseVmList(list.body);
    progress('authenticated', `logged in as ${o.user}; ${vms.length} VM${vms.length === 1 ? '' : 's'}`);
    if (o.list === true) return { kind: 'list', vms };

    const vm = chooseVm(vms, o.vm);
    progress('requesting-vm', `requesting VM ${vm.name} (id ${vm.id}, ${vm.state})`);
    http.send(
      connectPath(vm.id, {
        ...(o.geometry === undefined ? {} : { geometry: o.geometry }),
        ...(o.keyboard === undefined ? {} : { keyboard: o.keyboard }),
        ...(o.link === undefined ? {} : { link: o.link }),
        ...(o.fullscreen === undefined ? {} : { fullscreen: o.fullscreen }),
      }),
      { ...headers, Connection: 'Upgrade', Upgrade: 'QVD/1.0' },
    );
    const upgraded = await readUntilSwitch(http, progress);
    const cookie = readCookie(upgraded);
    if (cookie === undefined) progress('tunnel', 'the server sent no X-QVD-NX-Cookie: running nxproxy without a cookie');
    const initial = http.detach();
    socket.pause();
    const display = o.display ?? process.env['DISPLAY'];
    if (display === undefined || display === '') throw new ConnectError('nxproxy', 'no X display: set DISPLAY or pass display', false);
    progress('tunnel', `VM ${vm.name} is ready; starting nxproxy`);
    const session = await startNxTunnel({
      stream: socket,
      initial,
      cookie,
      display,
      nxproxyPath: o.nxproxyPath ?? 'nxproxy',
      onProgress: (m) => progress('nxproxy', m),
    });
    handedOver = true;
    return { kind: 'session', vm: vm satisfies QvdVm, session };
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    if (!handedOver) socket.destroy();
  }
}

/** 102s carry progress in X-QVD-VM-Info; the 101 ends the HTTP part. */
async function readUntilSwitch(http: HttpConnection, progress: (stage: ConnectProgress['stage'], message: string) => void): Promise<HttpResponse> {
  for (;;) {
    const r = await http.read();
    if (r.status === 101) return r;
    if (r.status >= 100 && r.status < 200) {
      const info = r.headers.get('x-qvd-vm-info');
      if (info !== undefined && info !== '') progress('vm-info', info);
      continue;
    }
    throw statusError(r.status, r.reason, r.body, 'connecting to the VM');
  }
}

function readCookie(r: HttpResponse): string | undefined {
  const c = r.headers.get(NX_COOKIE_HEADER);
  if (c === undefined || c === '') return undefined;
  if (!/^[0-9a-fA-F]{32}$/.test(c)) throw new ConnectError('protocol', `the server sent a malformed X-QVD-NX-Cookie`, false);
  return c.toLowerCase();
}

