import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as tcpConnect, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { connectEndpoint } from '../../../src/l7r/connect-endpoint.js';
import { readDirect } from '../../../src/l7r/direct-read.js';
import { startTunnel, type Tunnel } from '../../../src/l7r/tunnel.js';
import { RecordBatcher } from '../../../src/l7r/record-batcher.js';
import { Upstream } from '../../../src/l7r/upstream.js';
import { testTls, until } from './support/l7r-harness.js';

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Hash what `socket` reads; `slow` reads nothing for 300 ms, then pauses now and then, so the writer's side
 * backs up (queued in its process, past the kernel's buffers) and must be paused. The result is final once the
 * socket has ended.
 */
function hashReads(socket: Socket, slow: boolean): () => { bytes: number; sha: string } {
  if (slow) {
    socket.pause();
    setTimeout(() => socket.resume(), 300);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
    if (slow && Math.random() < 0.2) {
      socket.pause();
      setTimeout(() => socket.resume(), 5);
    }
  });
  return () => ({ bytes, sha: hash.digest('hex') });
}

/**
 * The VM's stand-in: hashes what each connection sends until its FIN, then
 * answers "<bytes> <sha256>" and closes. `slow` reads nothing for a while,
 * then with pauses, so the tunnel's writes back up (queued in the process,
 * past the kernel's buffers) and the client must be paused.
 */
async function hashingSink(slow: boolean): Promise<Server> {
  const server = createTcpServer({ allowHalfOpen: true }, (socket) => {
    const reads = hashReads(socket, slow);
    socket.on('end', () => {
      const read = reads();
      socket.end(`${read.bytes} ${read.sha}`);
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/**
 * A TLS front door that tunnels every connection to `sinkPort` with the L7R's tunnel;
 * `withoutDirectReads` hides the handle's user-buffer method, as on a Node without it.
 */
async function tunnelServer(sinkPort: number, tunnels: Tunnel[], withoutDirectReads: boolean): Promise<Server> {
  const { cert, key } = await testTls();
  const server = createTlsServer({ cert, key, allowHalfOpen: true }, (client: TLSSocket) => {
    if (withoutDirectReads) Object.defineProperty((client as unknown as { _handle: object })._handle, 'useUserBuffer', { value: undefined });
    void connectEndpoint('127.0.0.1', sinkPort, 5000, new AbortController().signal).then((upstream) => tunnels.push(startTunnel(client, upstream, Buffer.alloc(0), 5000)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** Send `data` in writes of mixed sizes (keystroke-sized to several records) with bursts and pauses; resolve with the sink's answer. */
async function sendMixed(port: number, data: Buffer, seed: number): Promise<string> {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  let answer = '';
  socket.on('data', (chunk: Buffer) => {
    answer += chunk.toString();
  });
  const ended = once(socket, 'end');
  let state = seed;
  const next = (): number => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state;
  };
  const sizes = [1, 7, 64, 1000, 16 * 1024, 16 * 1024 + 1, 40_000, 200_000, 300_000];
  for (let at = 0; at < data.length; ) {
    const size = Math.min(data.length - at, sizes[next() % sizes.length]!);
    if (!socket.write(data.subarray(at, at + size))) await once(socket, 'drain');
    at += size;
    const pause = next() % 10;
    if (pause === 0) await sleep(2);
    else if (pause < 3) await new Promise((resolve) => setImmediate(resolve));
  }
  socket.end();
  await ended;
  socket.destroy();
  return answer;
}

describe('tunnel, client to VM, in bulk', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });

  for (const [slow, direct] of [
    [false, true],
    [true, true],
    [false, false],
    [true, false],
  ] as const) {
    it(`delivers every byte in order through concurrent tunnels${slow ? ', with a VM slower than the client' : ''}, ${direct ? 'reading directly' : 'through data events'}`, async () => {
      const sink = await hashingSink(slow);
      const tunnels: Tunnel[] = [];
      const front = await tunnelServer((sink.address() as { port: number }).port, tunnels, !direct);
      servers.push(sink, front);
      const port = (front.address() as { port: number }).port;
      // Three at once: batches are recycled between tunnels, and a batch reused too early would mix their bytes.
      const payloads = [randomBytes(6 * 1024 * 1024), randomBytes(3 * 1024 * 1024 + 17), randomBytes(5 * 1024 * 1024 + 16 * 1024)];
      const answers = await Promise.all(payloads.map((data, i) => sendMixed(port, data, i + 1)));
      expect(answers).toEqual(payloads.map((data) => `${data.length} ${sha(data)}`));
      expect(tunnels.map((tunnel) => tunnel.directRead)).toEqual(payloads.map(() => direct));
      const ends = await Promise.all(tunnels.map((tunnel) => tunnel.done));
      expect(ends.map((end) => end.bytesIn).sort()).toEqual(payloads.map((data) => data.length).sort());
    }, 60_000);
  }

  it('reads the decrypted records of an accepted TLS socket directly, without data events', async () => {
    const { cert, key } = await testTls();
    const landed: Buffer[] = [];
    let dataEvents = 0;
    const engaged = new Promise<boolean>((resolve) => {
      const server = createTlsServer({ cert, key }, (socket) => {
        socket.on('data', () => dataEvents++);
        const target = Buffer.alloc(16 * 1024);
        resolve(readDirect(socket, { target: () => target, onRead: (bytes, buffer) => landed.push(Buffer.from(buffer.subarray(0, bytes))) > 0 }));
        socket.resume();
      });
      servers.push(server);
      server.listen(0, '127.0.0.1');
    });
    await once(servers[0]!, 'listening');
    const client = tlsConnect({ host: '127.0.0.1', port: (servers[0]!.address() as { port: number }).port, rejectUnauthorized: false });
    await once(client, 'secureConnect');
    // On the Node this project runs on, the direct path must engage: it is the L7R's upload throughput.
    expect(await engaged).toBe(true);
    const payload = randomBytes(100_000);
    client.end(payload);
    await until(() => Buffer.concat(landed).length === payload.length);
    expect(sha(Buffer.concat(landed))).toBe(sha(payload));
    expect(dataEvents).toBe(0);
    client.destroy();
  });

  it('keeps order when reads arrive as separate chunks, short ones at once and full ones batched', async () => {
    const received: Buffer[] = [];
    const sink = createTcpServer((socket) => socket.on('data', (chunk: Buffer) => received.push(chunk)));
    servers.push(sink);
    sink.listen(0, '127.0.0.1');
    await once(sink, 'listening');
    const upstream = tcpConnect({ host: '127.0.0.1', port: (sink.address() as { port: number }).port });
    await once(upstream, 'connect');
    const writer = new RecordBatcher(upstream);
    const chunks = [randomBytes(10), randomBytes(16 * 1024), randomBytes(16 * 1024), randomBytes(5), randomBytes(16 * 1024), randomBytes(300_000), randomBytes(3)];
    // As the data-event path hands them over: each chunk its own buffer, reused here to prove the writer copies what it keeps.
    for (const chunk of chunks) {
      const reused = Buffer.from(chunk);
      writer.onRead(reused.length, reused);
      reused.fill(0);
    }
    writer.flush();
    const expected = Buffer.concat(chunks);
    await until(() => Buffer.concat(received).length >= expected.length);
    expect(sha(Buffer.concat(received))).toBe(sha(expected));
    upstream.destroy();
  });
});

/**
 * Another node's L7R as a relay's upstream sees it: a TLS server that sends `data` to each connection in writes of
 * mixed sizes, then its FIN. `records` counts the TLS records that makes (one per 16 KiB of a write, or part of it).
 */
async function tlsSource(data: Buffer, seed: number, records = { count: 0 }): Promise<Server> {
  const { cert, key } = await testTls();
  const server = createTlsServer({ cert, key, allowHalfOpen: true }, (socket: TLSSocket) => {
    socket.on('error', () => undefined);
    void (async () => {
      let state = seed;
      const sizes = [1, 90, 1500, 16 * 1024, 16 * 1024 + 1, 64 * 1024, 300_000];
      for (let at = 0; at < data.length; ) {
        state = (state * 1103515245 + 12345) & 0x7fffffff;
        const size = Math.min(data.length - at, sizes[state % sizes.length]!);
        records.count += Math.ceil(size / (16 * 1024));
        if (!socket.write(data.subarray(at, at + size))) await once(socket, 'drain');
        at += size;
        if (state % 7 === 0) await sleep(1);
      }
      socket.end();
    })();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** A front door whose tunnels' upstream is a TLS connection to `port`, made as the relay client makes it; `accepted` sees each client socket first. */
async function relayingServer(port: number, tunnels: Tunnel[], accepted: (client: TLSSocket) => void = () => undefined): Promise<Server> {
  const { cert, key } = await testTls();
  const server = createTlsServer({ cert, key, allowHalfOpen: true }, (client: TLSSocket) => {
    accepted(client);
    const upstream = new Upstream();
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, allowHalfOpen: true, onread: upstream.socketOptions().onread } as Parameters<typeof tlsConnect>[0]);
    upstream.attach(socket);
    socket.once('secureConnect', () => tunnels.push(startTunnel(client, upstream, Buffer.alloc(0), 5000)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** Read a tunnel to its FIN (slowly when `slow`, see hashReads); count and hash what came. */
async function receiveAll(port: number, slow: boolean): Promise<{ bytes: number; sha: string }> {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const reads = hashReads(socket, slow);
  await once(socket, 'end');
  socket.destroy();
  return reads();
}

describe('tunnel, relayed upstream (TLS) to client, in bulk', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });

  for (const slow of [false, true]) {
    it(`batches the upstream's records on to the client, every byte in order${slow ? ', with a client slower than the upstream' : ''}`, async () => {
      const payload = randomBytes(6 * 1024 * 1024 + 5);
      const source = await tlsSource(payload, slow ? 7 : 3);
      const tunnels: Tunnel[] = [];
      const front = await relayingServer((source.address() as { port: number }).port, tunnels);
      servers.push(source, front);
      const port = (front.address() as { port: number }).port;
      // Two at once: they share the batch free list.
      const results = await Promise.all([receiveAll(port, slow), receiveAll(port, slow)]);
      expect(results).toEqual([0, 1].map(() => ({ bytes: payload.length, sha: sha(payload) })));
      expect(tunnels.map((tunnel) => tunnel.batchedDown)).toEqual([true, true]);
      const ends = await Promise.all(tunnels.map((tunnel) => tunnel.done));
      expect(ends.map((end) => end.reason)).toEqual(['closed', 'closed']);
    }, 60_000);
  }

  it('writes the client fewer, larger writes than the upstream has records', async () => {
    const payload = randomBytes(4 * 1024 * 1024);
    const records = { count: 0 };
    const source = await tlsSource(payload, 11, records);
    const tunnels: Tunnel[] = [];
    let clientWrites = 0;
    const front = await relayingServer((source.address() as { port: number }).port, tunnels, (client) => {
      const write = client.write.bind(client) as (...args: unknown[]) => boolean;
      (client as unknown as { write: (...args: unknown[]) => boolean }).write = (...args) => {
        clientWrites++;
        return write(...args);
      };
    });
    servers.push(source, front);
    const result = await receiveAll((front.address() as { port: number }).port, false);
    expect(result).toEqual({ bytes: payload.length, sha: sha(payload) });
    // Unbatched, every record read from the upstream is a write to the client.
    expect(records.count).toBeGreaterThan(256);
    expect(clientWrites).toBeLessThan(records.count / 2);
  }, 60_000);
});
