#!/usr/bin/env node
// L7R benchmark: one run on loopback, four processes (this client, the L7R, a second L7R for relays, the peers) plus socat.
//
//   npm run build && node bench/l7r.bench.mjs [--gib 1] [--rounds 5] [--pings 20000] [--sessions 500] [--interval 10] [--only abc] [--direction both] [--relay 1]
//
// (a) bulk throughput of a TLS client: through the L7R tunnel to a TCP sink, vs the same client to a bare
//     Node TLS sink (no relay), vs socat doing the same TLS termination and relay; and relayed: through
//     the L7R to the L7R of the VM's node (a second L7R process, node bench2) and on to the sink;
// (b) 64-byte ping-pong round trips through the tunnel vs direct TLS (and via socat, and relayed), p50/p99;
// (c) time to 101 for N concurrent sessions to running VMs, through the real backend and its SQLite store,
//     next to the floor: a bare Node TLS server that only connects and answers 101; as a burst, and
//     at a steady arrival rate with N sessions already open (--interval).
// The client, the L7R and the peers run in separate processes so no two of them share an event loop.
//
// (a) also prints the CPU per GiB of every process on each path (client + relay + TCP peer): on a
// small machine they share the cores, so what the peers burn is taken from the relay. The TCP sink
// that stands in for the VM in the relays' upload (L7R and socat alike; the bare path has none) is a
// python3 process reading into one 1 MiB buffer, like a VM's NX agent in C, not a Node server reading
// 64 KiB per call into a new buffer (which cost ~0.5 s/GiB behind the L7R, ~1 s/GiB behind socat's
// 16 KiB writes, on 2 cores). QVD_BENCH_SINK=node (or no python3) keeps the Node sink.
// --direction upload|download runs one direction of (a). The L7R process runs with the node flags
// `qvd serve` is deployed with (SERVE_NODE_FLAGS below: contrib/systemd, scripts/quickstart.sh);
// QVD_BENCH_L7R_ARGS replaces them (e.g. "--trace-gc", or "" for node's defaults); QVD_BENCH_PROFILE=DIR, see runL7r.
import { execFileSync, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer as createTcpServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';

/** The node flags contrib/systemd/qvd-serve.service starts `qvd serve` with (see docs/serve.md, "Node flags"). */
const SERVE_NODE_FLAGS = '--initial-old-space-size=64';
const here = fileURLToPath(import.meta.url);
const dist = new URL('../dist/', import.meta.url);
const role = process.argv[2] === '--role' ? process.argv[3] : 'main';
const arg = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};

// ---------------------------------------------------------------- peers: the VMs' stand-ins, bare TLS endpoints, the floor

/**
 * The TCP sink of (a) upload, the VM's stand-in (an NX agent reads its socket into one buffer, in C): a
 * Python process that reads into one reused 1 MiB buffer, counts, and on the sender's FIN answers
 * "OK <n>" and closes. Node's server sockets cannot read into a caller's buffer (`onread` is for
 * sockets Node connects), so a Node sink reads 64 KiB at a time into a new buffer each, and with three
 * busy processes on two cores that stand-in's CPU is taken from the relay it is meant to measure.
 * `QVD_BENCH_SINK=node` (or no python3) keeps the Node sink.
 */
const PYTHON_SINK = `
import os, socket, sys, threading
def orphaned():
    sys.stdin.buffer.read()  # EOF: the peers process is gone
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
s = socket.socket()
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(128)
print(s.getsockname()[1], flush=True)
def serve(c):
    buf = bytearray(1 << 20)
    n = 0
    try:
        while True:
            r = c.recv_into(buf)
            if r == 0:
                break
            n += r
        c.sendall(b'OK %d\\n' % n)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

async function startPythonSink() {
  if (process.env.QVD_BENCH_SINK === 'node') return undefined;
  const child = spawn('python3', ['-c', PYTHON_SINK, '0'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const port = await new Promise((resolve) => {
    child.once('error', () => resolve(undefined));
    child.once('exit', () => resolve(undefined));
    child.stdout.once('data', (data) => resolve(Number(data.toString().trim())));
  });
  if (port === undefined) return undefined;
  process.on('exit', () => child.kill());
  return { child, port };
}

/** Listen on 127.0.0.1, .2 and .3 at one port: the backend reaches every "VM" at its IP and one NX port, like real VMs. */
async function listenVms(handlers) {
  for (let attempt = 0; attempt < 20; attempt++) {
    // The sink at 127.0.0.1 is the Python one when it starts (see PYTHON_SINK).
    const python = await startPythonSink();
    const servers = handlers.map((handler) => createTcpServer({ allowHalfOpen: true }, handler));
    try {
      let port = python?.port ?? 0;
      for (let i = python === undefined ? 0 : 1; i < servers.length; i++) {
        servers[i].listen(port, `127.0.0.${i + 1}`);
        await once(servers[i], 'listening');
        port = servers[i].address().port;
      }
      return { port, sinkPid: python?.child.pid ?? process.pid };
    } catch {
      python?.child.kill();
      for (const server of servers) server.close();
    }
  }
  throw new Error('no port free on 127.0.0.1-3');
}

async function runPeers() {
  const { cert, key } = JSON.parse(process.env.QVD_BENCH_TLS);
  const sink = (socket) => {
    // Count until the client's FIN, then answer "OK" and close: the client times until it reads that.
    let bytes = 0;
    socket.on('data', (chunk) => {
      bytes += chunk.length;
    });
    socket.on('end', () => socket.end(`OK ${bytes}\n`));
    socket.on('error', () => undefined);
  };
  const source = (socket) => {
    // Read "N\n", send N bytes as fast as the reader takes them, then FIN: the download direction (NX screen updates).
    let line = '';
    socket.on('error', () => undefined);
    const onData = async (data) => {
      line += data.toString('latin1');
      if (!line.includes('\n')) return;
      socket.off('data', onData);
      let left = Number(line.slice(0, line.indexOf('\n')));
      const chunk = Buffer.alloc(256 * 1024, 0x33);
      while (left > 0) {
        const size = Math.min(left, chunk.length);
        left -= size;
        if (!socket.write(size === chunk.length ? chunk : chunk.subarray(0, size))) await once(socket, 'drain');
      }
      socket.end();
    };
    socket.on('data', onData);
  };
  const echo = (socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.pipe(socket);
  };
  const listen = async (server) => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return server.address().port;
  };
  // The "VMs": sink at 127.0.0.1, echo at 127.0.0.2, source at 127.0.0.3, all on one port.
  const { port: vmPort, sinkPid } = await listenVms([sink, echo, source]);
  // The floor for (c): the least a Node TLS front door can do per session (read a request head, TCP
  // connect, write a 101, pipe), with no HTTP parsing, authentication, store or logging.
  const floor = (client) => {
    client.setNoDelay(true);
    client.on('error', () => undefined);
    let head = '';
    const onData = (data) => {
      head += data.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      client.off('data', onData);
      client.pause();
      const vm = createConnection({ host: '127.0.0.2', port: vmPort, allowHalfOpen: true, noDelay: true }, () => {
        client.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\nX-QVD-Slave-Key: ${'x'.repeat(64)}\r\n\r\n`);
        client.pipe(vm);
        vm.pipe(client);
      });
      vm.on('error', () => client.destroy());
    };
    client.on('data', onData);
  };
  const ports = {
    vm: vmPort,
    sinkPid,
    tlsSource: await listen(createTlsServer({ cert, key, allowHalfOpen: true }, source)),
    tlsSink: await listen(createTlsServer({ cert, key, allowHalfOpen: true }, sink)),
    tlsEcho: await listen(createTlsServer({ cert, key, allowHalfOpen: true }, (socket) => echo(socket))),
    floor: await listen(createTlsServer({ cert, key, allowHalfOpen: true }, floor)),
  };
  process.send({ ready: ports });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------- the L7R as `qvd serve` composes it

/**
 * The real L7R, backend and store (SQLite, the single-node default), wired
 * like run-serve.ts: built-in auth over the store's users, the serve
 * metrics, pino at info. Every VM is recorded running on this node (as the
 * HKD leaves it), its IP one of the peers' loopback addresses. No HKD runs:
 * nothing is started or stopped.
 */
async function runL7r() {
  const imp = (path) => import(new URL(path, dist).href);
  const { createL7rServer, createBuiltinAuthProvider } = await imp('l7r/index.js');
  const { openStore } = await imp('state/open-store.js');
  const { openRuntimeStore } = await imp('state/runtime-open.js');
  const { openNotifier } = await imp('state/notifier-open.js');
  const { ServeBackend } = await imp('serve/serve-backend.js');
  const { deriveRelayKey } = await imp('serve/relay-key.js');
  const { createServeMetrics } = await imp('serve/serve-metrics.js');
  const { qvdSha256, hashPassword } = await imp('spec/password-hash.js');
  const { pino } = await import('pino');
  const { cert, key } = JSON.parse(process.env.QVD_BENCH_TLS);
  const { vm: vmPort } = JSON.parse(process.env.QVD_BENCH_PEERS);
  const { dir, users, hash } = JSON.parse(process.env.QVD_BENCH_SETUP);
  // The first L7R ("bench") writes the records; a second ("bench2", started after it) is the node the relayed VMs run on.
  const node = process.env.QVD_BENCH_NODE ?? 'bench';

  const config = { kind: 'sqlite', path: join(dir, 'state.db') };
  const passwordHash = hash === 'argon2id' ? await hashPassword('bench') : qvdSha256('bench');
  const user = (login) => ({ key: `${login}@default`, login, tenant: 'default', passwordHash, blocked: false, properties: {} });
  const vm = (name, owner, ip, on = 'bench') => ({ name, user: `${owner}@default`, image: 'desk:default', node: on, nodePinned: true, ip, mac: '54:52:00:00:00:01', power: 'on-demand', persistent: false, blocked: false, properties: {} });
  const benchNode = (name) => ({ kind: 'node', op: 'upsert', record: { name, address: '127.0.0.1', blocked: false, memoryMb: 1 << 20, vcpus: 4096, maxVms: 100_000 } });
  const writes = [
    { kind: 'image', op: 'upsert', record: { key: 'desk:default', sha256: 'a'.repeat(64), memoryMb: 512, vcpus: 1, homeSizeMb: 64, application: false } },
    benchNode('bench'),
    benchNode('bench2'),
    { kind: 'user', op: 'upsert', record: user('bench') },
    { kind: 'vm', op: 'upsert', record: vm('sink', 'bench', '127.0.0.1') },
    { kind: 'vm', op: 'upsert', record: vm('echo', 'bench', '127.0.0.2') },
    { kind: 'vm', op: 'upsert', record: vm('source', 'bench', '127.0.0.3') },
    // Running on bench2: a connect to them through bench is relayed to bench2's L7R.
    { kind: 'vm', op: 'upsert', record: vm('rsink', 'bench', '127.0.0.1', 'bench2') },
    { kind: 'vm', op: 'upsert', record: vm('recho', 'bench', '127.0.0.2', 'bench2') },
    { kind: 'vm', op: 'upsert', record: vm('rsource', 'bench', '127.0.0.3', 'bench2') },
  ];
  for (let i = 1; i <= users; i++) writes.push({ kind: 'user', op: 'upsert', record: user(`u${i}`) }, { kind: 'vm', op: 'upsert', record: vm(`d${i}`, `u${i}`, '127.0.0.2') });
  const store = await openStore(config);
  if (node === 'bench') await store.writeRecords(writes);
  const relayKey = deriveRelayKey(await store.vmaKey());
  await store.close();
  const runtime = await openRuntimeStore(config, { actor: `serve ${node} pid ${process.pid}` });
  const ids = {};
  if (node === 'bench') {
    await runtime.syncVms();
    const on = { rsink: 'bench2', recho: 'bench2', rsource: 'bench2' };
    for (const name of ['sink', 'echo', 'source', 'rsink', 'recho', 'rsource', ...Array.from({ length: users }, (_, i) => `d${i + 1}`)]) {
      const view = await runtime.vmByName(name);
      await runtime.transitionVm(view.runtime.id, { state: 'stopped' }, { state: 'running', node: on[name] ?? 'bench', readyAt: new Date().toISOString() }, 'bench: running');
      ids[name] = view.runtime.id;
    }
  }

  const settings = {
    l7r: { address: '127.0.0.1', port: 0, tls: { generate: true } },
    hkd: { startTimeout: 60, stopTimeout: 10, idleStop: 3600, heartbeat: 5, nodeLost: 60, maxParallelOps: 10, vmaPing: 120, vmaMaxFailures: 10, vmaDeadAfter: 320 },
    auth: { builtin: true, tokenTtl: 86400 },
    database: { kind: 'sqlite', path: config.path },
  };
  const logger = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false }));
  const metrics = createServeMetrics();
  const backend = await ServeBackend.create({ node, runtime, notifier: openNotifier(config), settings: async () => settings, logger, metrics: metrics.backend, nxPort: vmPort });
  // One client address plays every user here: no per-address cap.
  const l7r = createL7rServer({ backend, tls: { cert, key }, auth: [createBuiltinAuthProvider(backend)], logger: logger.child({ component: 'l7r' }), metrics: metrics.l7r, limits: { maxConnections: 100_000, maxConnectionsPerAddress: 0 }, relayKey });
  const { port } = await l7r.listen(0, '127.0.0.1');
  // What an HKD publishes with each heartbeat: where the other nodes' L7Rs relay to for this node's VMs.
  if (node !== 'bench') await runtime.heartbeat(node, { state: 'running', reason: 'bench', pid: process.pid, host: 'localhost', l7rAddress: `127.0.0.1:${port}`, runningVms: 3, freeMemoryMb: 1 << 20, freeVcpus: 4096 });
  // QVD_BENCH_PROFILE=DIR: a V8 CPU profile of the L7R process per measured part (not its set-up), DIR/l7r-PART.cpuprofile;
  // with QVD_BENCH_PROFILE_SCOPE=windows, part (c) is profiled only inside its L7R CPU windows instead, DIR/l7r-c-warm.cpuprofile etc.
  const profiler = process.env.QVD_BENCH_PROFILE ? new (await import('node:inspector')).Session() : undefined;
  const post = (method, params) => new Promise((resolve, reject) => profiler.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
  if (profiler !== undefined) {
    profiler.connect();
    await post('Profiler.enable');
  }
  process.on('message', async (message) => {
    if (message === 'sessions') process.send({ sessions: l7r.activeSessions });
    if (profiler !== undefined && message.profile === 'start') {
      await post('Profiler.start');
      if (message.ack) process.send({ profiling: true });
    }
    if (profiler !== undefined && message.profile === 'stop') {
      const { profile } = await post('Profiler.stop');
      await writeFile(join(process.env.QVD_BENCH_PROFILE, `l7r-${message.part}.cpuprofile`), JSON.stringify(profile));
      process.send({ profiled: message.part });
    }
  });
  process.send({ ready: { l7r: port, ids } });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

// ---------------------------------------------------------------- client side

const basic = (login) => `Basic ${Buffer.from(`${login}:bench`).toString('base64')}`;
const AUTH = basic('bench');

function tls(port) {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Read a response head from `socket`; resolves with [statusCode, rest-of-buffer]. */
function readHead(socket, initial = Buffer.alloc(0)) {
  return new Promise((resolve, reject) => {
    let buffer = initial;
    const tryParse = () => {
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return false;
      const status = Number(buffer.subarray(9, 12).toString());
      socket.off('data', onData);
      socket.off('error', reject);
      resolve([status, buffer.subarray(end + 4)]);
      return true;
    };
    const onData = (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      tryParse();
    };
    if (tryParse()) return;
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** A TLS connection through the L7R, upgraded to a tunnel to VM `id`. */
async function tunnel(port, id) {
  const socket = await tls(port);
  socket.write(`GET /qvd/connect_to_vm?id=${id}&qvd.client.os=linux HTTP/1.1\r\nAuthorization: ${AUTH}\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\n\r\n`);
  let [status, rest] = await readHead(socket);
  while (status === 102) [status, rest] = await readHead(socket, rest);
  if (status !== 101) throw new Error(`expected 101, got ${status}`);
  socket.pause();
  if (rest.length > 0) socket.unshift(rest);
  return socket;
}

/** Stream `total` bytes, half-close, wait for the sink's "OK <n>". Returns bytes/s. */
async function bulk(socket, total) {
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const started = process.hrtime.bigint();
  const answer = new Promise((resolve, reject) => {
    let text = '';
    socket.on('data', (data) => {
      text += data.toString();
    });
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
  });
  socket.resume();
  let sent = 0;
  while (sent < total) {
    const size = Math.min(chunk.length, total - sent);
    sent += size;
    if (!socket.write(size === chunk.length ? chunk : chunk.subarray(0, size))) await once(socket, 'drain');
  }
  socket.end();
  const text = await answer;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (text.trim() !== `OK ${total}`) throw new Error(`sink answered ${JSON.stringify(text)}`);
  socket.destroy();
  return total / seconds;
}

/** Ask the source for `total` bytes and read them to its FIN. Returns bytes/s. */
async function download(socket, total) {
  const started = process.hrtime.bigint();
  let received = 0;
  const ended = new Promise((resolve, reject) => {
    socket.on('data', (data) => {
      received += data.length;
    });
    socket.once('end', resolve);
    socket.once('error', reject);
  });
  socket.resume();
  socket.write(`${total}\n`);
  await ended;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  socket.destroy();
  if (received !== total) throw new Error(`received ${received} of ${total} bytes`);
  return total / seconds;
}

/** 64-byte round trips; returns sorted RTTs in microseconds. */
async function pingPong(socket, count, warmup = 1000) {
  const message = Buffer.alloc(64, 0x61);
  const rtts = [];
  let received = 0;
  let resolveRound;
  socket.on('data', (data) => {
    received += data.length;
    if (received >= 64) {
      received -= 64;
      resolveRound();
    }
  });
  socket.resume();
  for (let round = 0; round < count + warmup; round++) {
    const done = new Promise((resolve) => {
      resolveRound = resolve;
    });
    const started = process.hrtime.bigint();
    socket.write(message);
    await done;
    if (round >= warmup) rtts.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  socket.destroy();
  return rtts.sort((a, b) => a - b);
}

/** CPU seconds (user + system, reaped children included) of a process, from /proc. */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime, stime, cutime, cstime are fields 14-17 of stat; [1] starts at field 3.
    return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) / 100;
  } catch {
    return Number.NaN;
  }
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const mib = (bytesPerSecond) => `${(bytesPerSecond / 2 ** 20).toFixed(0)} MiB/s`;

async function startChild(childRole, env) {
  const l7rArgs = (process.env.QVD_BENCH_L7R_ARGS ?? SERVE_NODE_FLAGS).split(' ').filter((a) => a !== '');
  const child = fork(here, ['--role', childRole], { execArgv: [...process.execArgv, ...(childRole === 'l7r' ? l7rArgs : [])], env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [message] = await once(child, 'message');
  return { child, ports: message.ready };
}

async function startSocat(certFile, keyFile, target) {
  const probe = createTcpServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  const child = spawn('socat', ['-b', '262144', `OPENSSL-LISTEN:${port},bind=127.0.0.1,reuseaddr,cert=${certFile},key=${keyFile},verify=0,fork`, `TCP:${target},nodelay`], {
    stdio: 'ignore',
  });
  for (let attempt = 0; attempt < 100; attempt++) {
    const open = await new Promise((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return { child, port };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill();
  throw new Error('socat did not start');
}

async function main() {
  const gib = arg('gib', 1);
  const rounds = arg('rounds', 5);
  const pings = arg('pings', 20_000);
  const concurrent = arg('sessions', 500);
  // --only a|b|c runs some parts; --cold 0 skips the cold half of (c); --interval MS spaces the sustained arrivals of (c)
  // (0 skips them); --hash argon2id gives the users argon2id hashes.
  const option = (name, fallback) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);
  const only = option('only', 'abc');
  const hash = option('hash', 'qvd-sha256');
  const total = Math.round(gib * 2 ** 30);
  const { ensureTlsMaterial } = await import(new URL('l7r/tls-material.js', dist).href).catch(() => {
    console.error('dist/l7r not found: run `npm run build` first');
    process.exit(1);
  });
  const dir = await mkdtemp(join(tmpdir(), 'qvd-l7r-bench-'));
  if (process.env.QVD_BENCH_PROFILE) await mkdir(process.env.QVD_BENCH_PROFILE, { recursive: true });
  const material = await ensureTlsMaterial(dir);
  const tlsEnv = { QVD_BENCH_TLS: JSON.stringify({ cert: material.cert, key: material.key }) };
  await writeFile(join(dir, 'key.pem'), material.key, { mode: 0o600 });
  await writeFile(join(dir, 'cert.pem'), material.cert);

  const peers = await startChild('peers', tlsEnv);
  // Users u1..u2N each own one VM: the warm and the cold rounds of (c) each get their own N sessions;
  // N/2 more warm the L7R up first (JIT, caches), as a serve that has been up for a while is.
  const setup = { dir, users: 2 * concurrent + Math.ceil(concurrent / 2), hash };
  const l7r = await startChild('l7r', { ...tlsEnv, QVD_BENCH_PEERS: JSON.stringify(peers.ports), QVD_BENCH_SETUP: JSON.stringify(setup) });
  // --relay 0: no relayed rows. Otherwise a second L7R (node bench2) holds the VMs rsink, recho, rsource; bench relays to it.
  const relayed = arg('relay', 1) !== 0 ? await startChild('l7r', { ...tlsEnv, QVD_BENCH_PEERS: JSON.stringify(peers.ports), QVD_BENCH_SETUP: JSON.stringify(setup), QVD_BENCH_NODE: 'bench2' }) : undefined;
  let socatSink;
  let socatEcho;
  let socatSource;
  try {
    socatSink = await startSocat(join(dir, 'cert.pem'), join(dir, 'key.pem'), `127.0.0.1:${peers.ports.vm}`);
    socatEcho = await startSocat(join(dir, 'cert.pem'), join(dir, 'key.pem'), `127.0.0.2:${peers.ports.vm}`);
    socatSource = await startSocat(join(dir, 'cert.pem'), join(dir, 'key.pem'), `127.0.0.3:${peers.ports.vm}`);
  } catch (error) {
    console.error(`socat unavailable (${error.message}); install the Debian package socat. Its rows are skipped.`);
  }
  const cleanup = async () => {
    socatSink?.child.kill();
    socatEcho?.child.kill();
    socatSource?.child.kill();
    l7r.child.disconnect();
    relayed?.child.disconnect();
    peers.child.disconnect();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const probe = await tls(l7r.ports.l7r);
    const cipher = `${probe.getProtocol()} ${probe.getCipher().standardName}`;
    probe.destroy();
    let socatCipher = '-';
    if (socatSink !== undefined) {
      const socatProbe = await tls(socatSink.port);
      socatCipher = `${socatProbe.getProtocol()} ${socatProbe.getCipher().standardName}`;
      socatProbe.destroy();
    }
    // Other work on the machine skews every number here: say how busy it was.
    console.log(`qvd L7R benchmark: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model.trim()}, loopback, load average ${loadavg()[0].toFixed(2)} at start`);
    console.log(`TLS: L7R and bare sink ${cipher}; socat ${socatCipher} (${socatVersion()})`);
    console.log(`TCP sink of the relays' upload ("the VM"): ${peers.ports.sinkPid === peers.child.pid ? 'Node, 64 KiB reads' : 'python3, 1 MiB reads into one buffer'}\n`);

    const run = { total, gib, rounds, directions: option('direction', 'both'), pings, concurrent, hash, peers, l7r, relayed, socatSink, socatEcho, socatSource };
    const parts = { a: benchThroughput, b: benchLatency, c: benchTimeTo101 };
    for (const [part, bench] of Object.entries(parts)) {
      if (!only.includes(part)) continue;
      const whole = !(part === 'c' && process.env.QVD_BENCH_PROFILE_SCOPE === 'windows');
      if (whole) l7r.child.send({ profile: 'start' });
      await bench(run);
      if (whole) l7r.child.send({ profile: 'stop', part });
      if (whole && process.env.QVD_BENCH_PROFILE) await once(l7r.child, 'message');
    }
    console.log(`\nLoad average ${loadavg()[0].toFixed(2)} at the end.`);
    console.log('Goals: >= 90 % of bare TLS throughput and faster than socat; added RTT < 100 us p50; time to 101 p50 < 20 ms.');
  } finally {
    await cleanup();
  }
}

/** (a) Bulk throughput both ways, rounds interleaved so drift hits every variant alike; CPU per GiB of the process that terminates TLS. */
async function benchThroughput({ total, gib, rounds, directions, peers, l7r, relayed, socatSink, socatSource }) {
  for (const direction of ['upload', 'download'].filter((d) => directions === 'both' || d === directions)) {
    const move = direction === 'upload' ? bulk : download;
    const results = { bare: [], l7r: [], socat: [], relayed: [] };
    const cpu = { bare: [], l7r: [], socat: [], relayed: [] };
    // Every process on the path, CPU s/GiB: the client (this process), the relay (none for bare; both L7Rs when relayed), the TCP peer.
    const everyone = { bare: [], l7r: [], socat: [], relayed: [] };
    // Relayed: CPU s/GiB of the user's node's L7R and of the VM's node's, apart.
    const relayedSplit = [];
    const measure = async (name, pids, open) => {
      const socket = await open();
      const each = () => [pids].flat().map(cpuSeconds);
      const relayCpu = () => each().reduce((sum, seconds) => sum + seconds, 0);
      const eachBefore = each();
      const before = relayCpu();
      // The peers process and, if it runs apart, the Python sink (idle but for the relays' upload).
      const peerCpu = () => cpuSeconds(peers.child.pid) + (peers.ports.sinkPid === peers.child.pid ? 0 : cpuSeconds(peers.ports.sinkPid));
      const peerBefore = peerCpu();
      const clientBefore = process.cpuUsage();
      results[name].push(await move(socket, total));
      const client = process.cpuUsage(clientBefore);
      // socat's per-connection child is reaped (and its CPU added to the parent) just after the connection ends.
      if (name === 'socat') await new Promise((resolve) => setTimeout(resolve, 200));
      cpu[name].push((relayCpu() - before) / gib);
      const relay = name === 'bare' ? 0 : (relayCpu() - before) / gib;
      everyone[name].push([(client.user + client.system) / 1e6 / gib, relay, (peerCpu() - peerBefore) / gib]);
      if (name === 'relayed') relayedSplit.push(each().map((seconds, i) => (seconds - eachBefore[i]) / gib));
    };
    const socatPeer = direction === 'upload' ? socatSink : socatSource;
    for (let round = 0; round < rounds; round++) {
      await measure('bare', peers.child.pid, () => tls(direction === 'upload' ? peers.ports.tlsSink : peers.ports.tlsSource));
      await measure('l7r', l7r.child.pid, () => tunnel(l7r.ports.l7r, l7r.ports.ids[direction === 'upload' ? 'sink' : 'source']));
      if (socatPeer !== undefined) await measure('socat', socatPeer.child.pid, () => tls(socatPeer.port));
      if (relayed !== undefined) await measure('relayed', [l7r.child.pid, relayed.child.pid], () => tunnel(l7r.ports.l7r, l7r.ports.ids[direction === 'upload' ? 'rsink' : 'rsource']));
    }
    const bare = median(results.bare);
    const relay = median(results.l7r);
    const socat = results.socat.length > 0 ? median(results.socat) : undefined;
    const cpuText = (name) => `${median(cpu[name]).toFixed(2)} s/GiB`;
    const what = direction === 'upload' ? 'client -> sink (decrypt side)' : 'source -> client (encrypt side, like NX screen updates)';
    console.log(`(a) bulk ${gib} GiB ${what}, median of ${rounds}`);
    console.log('    path                          throughput   vs bare TLS   CPU of the TLS end');
    console.log(`    bare Node TLS peer            ${mib(bare).padStart(12)}       100 %     ${cpuText('bare')}`);
    console.log(`    L7R tunnel <-> TCP peer       ${mib(relay).padStart(12)}   ${((100 * relay) / bare).toFixed(1).padStart(7)} %     ${cpuText('l7r')} (L7R process)`);
    if (socat !== undefined) console.log(`    socat relay <-> TCP peer      ${mib(socat).padStart(12)}   ${((100 * socat) / bare).toFixed(1).padStart(7)} %     ${cpuText('socat')} (socat, children included)`);
    if (relayed !== undefined) {
      const through = median(results.relayed);
      const node = (i) => median(relayedSplit.map((row) => row[i])).toFixed(2);
      console.log(`    L7R -> L7R relay <-> TCP peer ${mib(through).padStart(12)}   ${((100 * through) / bare).toFixed(1).padStart(7)} %     ${cpuText('relayed')} (both L7Rs: user's node ${node(0)} + VM's node ${node(1)})`);
    }
    if (socat !== undefined) console.log(`    L7R / socat throughput: ${(relay / socat).toFixed(2)}x`);
    const split = (name) => {
      const rows = everyone[name];
      const at = (i) => median(rows.map((row) => row[i])).toFixed(2);
      return name === 'bare' ? `client ${at(0)} + peer ${at(2)}` : `client ${at(0)} + relay ${at(1)} + peer ${at(2)}`;
    };
    const also = (name) => (results[name].length === 0 ? [] : [name]);
    const names = ['bare', 'l7r', ...also('socat'), ...also('relayed')];
    console.log(`    CPU s/GiB of every process: ${names.map((name) => `${name} ${split(name)}`).join('; ')}`);
    const rounded = (values) => values.map((value) => (value / 2 ** 20).toFixed(0)).join(' ');
    console.log(`    all rounds (MiB/s): ${names.map((name) => `${name} ${rounded(results[name])}`).join('; ')}`);
    const cpuRounds = (name) => everyone[name].map((row) => row.map((value) => value.toFixed(2)).join('/')).join(' ');
    console.log(`    all rounds (CPU s/GiB client/relay/peer): ${names.map((name) => `${name} ${cpuRounds(name)}`).join('; ')}\n`);
  }
}

/** (b) 64-byte ping-pong latency: direct TLS echo, through the L7R, through socat. */
async function benchLatency({ pings, peers, l7r, relayed, socatEcho }) {
  const direct = await pingPong(await tls(peers.ports.tlsEcho), pings);
  const through = await pingPong(await tunnel(l7r.ports.l7r, l7r.ports.ids.echo), pings);
  const viaSocat = socatEcho === undefined ? undefined : await pingPong(await tls(socatEcho.port), pings);
  const viaRelay = relayed === undefined ? undefined : await pingPong(await tunnel(l7r.ports.l7r, l7r.ports.ids.recho), pings);
  const row = (name, rtts) => `    ${name.padEnd(30)}${quantile(rtts, 0.5).toFixed(1).padStart(8)} us ${quantile(rtts, 0.99).toFixed(1).padStart(9)} us`;
  console.log(`(b) 64-byte ping-pong, ${pings} round trips`);
  console.log('    path                               p50         p99');
  console.log(row('direct TLS echo', direct));
  console.log(row('L7R tunnel -> TCP echo', through));
  if (viaSocat !== undefined) console.log(row('socat -> TCP echo', viaSocat));
  if (viaRelay !== undefined) console.log(row('L7R -> L7R relay -> TCP echo', viaRelay));
  console.log(`    added by the L7R: p50 ${(quantile(through, 0.5) - quantile(direct, 0.5)).toFixed(1)} us, p99 ${(quantile(through, 0.99) - quantile(direct, 0.99)).toFixed(1)} us\n`);
}

/**
 * (c) Time to 101 for N concurrent sessions, each a different user to their own running VM, through the
 * real backend and store: warm (TLS already up, N requests sent at once) and cold (TCP + TLS + request,
 * all at once), the L7R side by side with the floor (a bare Node TLS -> TCP 101 responder). Times are
 * taken by the client, from the first request written to each 101 read.
 *
 * Then sustained: with N sessions open (tunnels live), N more TLS connections already up send their
 * requests at a steady rate (--interval ms apart; the default 10, 100/s, the L7R keeps up with even
 * on a busy machine, so the figures are latency, not queueing); each is timed from its own request.
 */
async function benchTimeTo101({ concurrent, hash, peers, l7r }) {
  const request = (login, id) => `GET /qvd/connect_to_vm?id=${id}&qvd.client.os=linux HTTP/1.1\r\nAuthorization: ${basic(login)}\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\n\r\n`;
  const openSession = async (socket, text, samples, since) => {
    socket.write(text);
    let [status, rest] = await readHead(socket);
    while (status === 102) [status, rest] = await readHead(socket, rest);
    if (status !== 101) throw new Error(`expected 101, got ${status}`);
    samples.push(Number(process.hrtime.bigint() - since) / 1e6);
  };
  // Session i of a round: user u<offset+i> to VM d<offset+i> (the floor ignores who asks).
  const requests = (offset, count = concurrent) => Array.from({ length: count }, (_, i) => request(`u${offset + i + 1}`, l7r.ports.ids[`d${offset + i + 1}`]));
  const sessionsEnded = async () => {
    for (;;) {
      l7r.child.send('sessions');
      const [message] = await once(l7r.child, 'message');
      if (message.sessions === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  // QVD_BENCH_PROFILE_SCOPE=windows: the L7R's profile covers exactly the CPU window of a measurement.
  const profiled = process.env.QVD_BENCH_PROFILE && process.env.QVD_BENCH_PROFILE_SCOPE === 'windows';
  const profileStart = async (name) => {
    if (!profiled || name === undefined) return;
    l7r.child.send({ profile: 'start', ack: true });
    await once(l7r.child, 'message');
  };
  const profileStop = async (name) => {
    if (!profiled || name === undefined) return;
    l7r.child.send({ profile: 'stop', part: name });
    await once(l7r.child, 'message');
  };
  const warm = async (port, pid, texts, profileAs) => {
    const samples = [];
    const sockets = await Promise.all(texts.map(() => tls(port)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await profileStart(profileAs);
    const cpu = cpuSeconds(pid);
    const start = process.hrtime.bigint();
    await Promise.all(sockets.map((socket, i) => openSession(socket, texts[i], samples, start)));
    const wall = Number(process.hrtime.bigint() - start) / 1e6;
    const cpuPerSession = ((cpuSeconds(pid) - cpu) * 1000) / texts.length;
    await profileStop(profileAs);
    for (const socket of sockets) socket.destroy();
    return { samples: samples.sort((a, b) => a - b), wall, cpuPerSession };
  };
  const cold = async (port, pid, texts, profileAs) => {
    const samples = [];
    const sockets = [];
    await profileStart(profileAs);
    const cpu = cpuSeconds(pid);
    const start = process.hrtime.bigint();
    await Promise.all(
      texts.map(async (text) => {
        const socket = await tls(port);
        sockets.push(socket);
        await openSession(socket, text, samples, start);
      }),
    );
    const wall = Number(process.hrtime.bigint() - start) / 1e6;
    const cpuPerSession = ((cpuSeconds(pid) - cpu) * 1000) / texts.length;
    await profileStop(profileAs);
    for (const socket of sockets) socket.destroy();
    return { samples: samples.sort((a, b) => a - b), wall, cpuPerSession };
  };
  // N sessions opened first and kept open (their tunnels idle but live), then `texts` sent on
  // already-connected TLS sockets at `intervalMs` apart, by a clock (not chained timers, which drift).
  const sustained = async (port, pid, baseTexts, texts, intervalMs, profileAs) => {
    const base = await Promise.all(baseTexts.map(() => tls(port)));
    await Promise.all(base.map((socket, i) => openSession(socket, baseTexts[i], [], process.hrtime.bigint())));
    const sockets = await Promise.all(texts.map(() => tls(port)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await profileStart(profileAs);
    const samples = [];
    const opened = [];
    const cpu = cpuSeconds(pid);
    const start = process.hrtime.bigint();
    for (let i = 0; i < texts.length; i++) {
      const due = start + BigInt(Math.round(i * intervalMs * 1e6));
      const wait = Number(due - process.hrtime.bigint()) / 1e6;
      if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, Math.floor(wait)));
      while (process.hrtime.bigint() < due) await new Promise((resolve) => setImmediate(resolve));
      opened.push(openSession(sockets[i], texts[i], samples, process.hrtime.bigint()));
    }
    await Promise.all(opened);
    const wall = Number(process.hrtime.bigint() - start) / 1e6;
    const cpuPerSession = ((cpuSeconds(pid) - cpu) * 1000) / texts.length;
    await profileStop(profileAs);
    for (const socket of [...base, ...sockets]) socket.destroy();
    return { samples: samples.sort((a, b) => a - b), wall, cpuPerSession };
  };
  const settle = () => new Promise((resolve) => setTimeout(resolve, 500));
  // Until V8 has optimised the hot paths (a few thousand sessions), a burst also pays for compiling them.
  const warmUp = Math.ceil(concurrent / 2);
  for (let round = 0; round < 4; round++) {
    await warm(peers.ports.floor, peers.child.pid, requests(2 * concurrent, warmUp));
    await warm(l7r.ports.l7r, l7r.child.pid, requests(2 * concurrent, warmUp));
    await sessionsEnded();
  }
  await settle();
  const results = [];
  results.push(['warm', 'floor: bare Node TLS -> TCP 101', await warm(peers.ports.floor, peers.child.pid, requests(0))]);
  await settle();
  results.push(['warm', 'L7R + backend + SQLite store', await warm(l7r.ports.l7r, l7r.child.pid, requests(0), 'c-warm')]);
  await sessionsEnded();
  await settle();
  if (arg('cold', 1) !== 0) {
    results.push(['cold', 'floor: bare Node TLS -> TCP 101', await cold(peers.ports.floor, peers.child.pid, requests(concurrent))]);
    await settle();
    results.push(['cold', 'L7R + backend + SQLite store', await cold(l7r.ports.l7r, l7r.child.pid, requests(concurrent), 'c-cold')]);
    await sessionsEnded();
  }
  const intervalMs = arg('interval', 10);
  if (intervalMs > 0) {
    await settle();
    // Users u1..uN hold the open sessions, u(N+1)..u2N arrive (the warm and cold rounds' users, their sessions ended).
    results.push(['sustained', 'floor: bare Node TLS -> TCP 101', await sustained(peers.ports.floor, peers.child.pid, requests(0), requests(concurrent), intervalMs)]);
    await settle();
    results.push(['sustained', 'L7R + backend + SQLite store', await sustained(l7r.ports.l7r, l7r.child.pid, requests(0), requests(concurrent), intervalMs, 'c-sustained')]);
    await sessionsEnded();
  }
  const ms = (value) => `${value.toFixed(1).padStart(8)} ms`;
  console.log(`(c) time to 101, ${concurrent} concurrent sessions (${concurrent} users, each to their own running VM; passwords ${hash})`);
  console.log('                                                      p50          p99     last   CPU/session (server)');
  let phase = '';
  for (const [kind, name, r] of results) {
    if (kind !== phase) {
      phase = kind;
      if (kind === 'warm') console.log(`    warm: TLS up, ${concurrent} requests sent at once`);
      else if (kind === 'cold') console.log(`    cold: TCP + TLS + request, all ${concurrent} at once`);
      else
        console.log(
          `    sustained: ${concurrent} sessions open (tunnels live), ${concurrent} more requests on TLS already up, one every ${intervalMs} ms (${(1000 / intervalMs).toFixed(0)}/s); each timed from its own request`,
        );
    }
    console.log(`      ${name.padEnd(34)}${ms(quantile(r.samples, 0.5))} ${ms(quantile(r.samples, 0.99))} ${r.wall.toFixed(0).padStart(6)} ms   ${r.cpuPerSession.toFixed(2)} ms`);
  }
  console.log('');
}

function socatVersion() {
  try {
    const version = /socat version ([^ \n]+)/.exec(execFileSync('socat', ['-V'], { encoding: 'utf8' }))?.[1];
    return version === undefined ? 'socat' : `socat ${version}`;
  } catch {
    return 'socat missing';
  }
}

// Last, so every module-level constant above is initialised.
if (role === 'peers') await runPeers();
else if (role === 'l7r') await runL7r();
else await main();
