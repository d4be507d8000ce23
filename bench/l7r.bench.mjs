#!/usr/bin/env node
// L7R benchmark: one run on loopback, three processes (this client, the L7R, the peers) plus socat.
//
//   npm run build && node bench/l7r.bench.mjs [--gib 1] [--rounds 3] [--pings 20000] [--sessions 500]
//
// (a) bulk throughput of a TLS client: through the L7R tunnel to a TCP sink, vs the same client to a bare
//     Node TLS sink (no relay), vs socat doing the same TLS termination and relay;
// (b) 64-byte ping-pong round trips through the tunnel vs direct TLS (and via socat), p50/p99;
// (c) time to 101 for N concurrent sessions to running VMs (the fake backend answers at once).
// The client, the L7R and the peers run in separate processes so no two of them share an event loop.
import { execFileSync, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer as createTcpServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
const dist = new URL('../dist/', import.meta.url);
const role = process.argv[2] === '--role' ? process.argv[3] : 'main';
const arg = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};

// ---------------------------------------------------------------- peers: sinks and echo servers

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
  const ports = {
    tcpSink: await listen(createTcpServer({ allowHalfOpen: true }, sink)),
    tcpEcho: await listen(createTcpServer({ allowHalfOpen: true }, echo)),
    tcpSource: await listen(createTcpServer({ allowHalfOpen: true }, source)),
    tlsSource: await listen(createTlsServer({ cert, key, allowHalfOpen: true }, source)),
    tlsSink: await listen(createTlsServer({ cert, key, allowHalfOpen: true }, sink)),
    tlsEcho: await listen(createTlsServer({ cert, key, allowHalfOpen: true }, (socket) => echo(socket))),
  };
  process.send({ ready: ports });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------- the L7R with a backend that answers at once

async function runL7r() {
  const { createL7rServer, createBuiltinAuthProvider, newSlaveKey } = await import(new URL('l7r/index.js', dist).href);
  const { qvdSha256 } = await import(new URL('spec/password-hash.js', dist).href);
  const { pino } = await import('pino');
  const { cert, key } = JSON.parse(process.env.QVD_BENCH_TLS);
  const { tcpSink, tcpEcho, tcpSource } = JSON.parse(process.env.QVD_BENCH_PEERS);
  // The original QVD hash (microseconds): argon2id would make (c) measure password hashing, not the L7R.
  const user = { key: 'bench@default', passwordHash: qvdSha256('bench'), blocked: false };
  let sessions = 0;
  const backend = {
    node: 'bench',
    serving: true,
    findUser: async (login, tenant) => (`${login}@${tenant}` === user.key ? user : undefined),
    listVms: async () => [
      { id: 1, name: 'sink', state: 'running', blocked: false, isApplication: false },
      { id: 2, name: 'echo', state: 'running', blocked: false, isApplication: false },
      { id: 3, name: 'source', state: 'running', blocked: false, isApplication: false },
    ],
    stopVm: async () => true,
    prepareVm: async (_user, id) => ({ host: '127.0.0.1', port: [tcpSink, tcpEcho, tcpSource][id - 1], node: 'bench', slaveKey: newSlaveKey(), sessionId: `s${++sessions}` }),
    sessionStarted: async () => undefined,
    sessionEnded: async () => undefined,
    onTakeover: () => () => undefined,
    createToken: async () => ({ token: 't', expiresAt: new Date().toISOString() }),
    userForToken: async () => undefined,
  };
  const logger = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false }));
  const l7r = createL7rServer({ backend, tls: { cert, key }, auth: [createBuiltinAuthProvider(backend)], logger, limits: { maxConnections: 100_000 } });
  const { port } = await l7r.listen(0, '127.0.0.1');
  process.send({ ready: { l7r: port } });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

// ---------------------------------------------------------------- client side

const AUTH = `Basic ${Buffer.from('bench:bench').toString('base64')}`;

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
  // QVD_BENCH_PROFILE=DIR writes a V8 CPU profile of the L7R process there.
  const execArgv = childRole === 'l7r' && process.env.QVD_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.QVD_BENCH_PROFILE}`] : [];
  const child = fork(here, ['--role', childRole], { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [message] = await once(child, 'message');
  return { child, ports: message.ready };
}

async function startSocat(certFile, keyFile, targetPort) {
  const probe = createTcpServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  const child = spawn('socat', ['-b', '262144', `OPENSSL-LISTEN:${port},bind=127.0.0.1,reuseaddr,cert=${certFile},key=${keyFile},verify=0,fork`, `TCP:127.0.0.1:${targetPort},nodelay`], {
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
  const rounds = arg('rounds', 3);
  const pings = arg('pings', 20_000);
  const concurrent = arg('sessions', 500);
  // --only a|b|c runs some parts; --cold 0 skips the cold half of (c).
  const onlyIndex = process.argv.indexOf('--only');
  const only = onlyIndex === -1 ? 'abc' : process.argv[onlyIndex + 1];
  const total = Math.round(gib * 2 ** 30);
  const { ensureTlsMaterial } = await import(new URL('l7r/tls-material.js', dist).href).catch(() => {
    console.error('dist/l7r not found: run `npm run build` first');
    process.exit(1);
  });
  const dir = await mkdtemp(join(tmpdir(), 'qvd-l7r-bench-'));
  const material = await ensureTlsMaterial(dir);
  const tlsEnv = { QVD_BENCH_TLS: JSON.stringify({ cert: material.cert, key: material.key }) };
  await writeFile(join(dir, 'key.pem'), material.key, { mode: 0o600 });
  await writeFile(join(dir, 'cert.pem'), material.cert);

  const peers = await startChild('peers', tlsEnv);
  const l7r = await startChild('l7r', { ...tlsEnv, QVD_BENCH_PEERS: JSON.stringify(peers.ports) });
  let socatSink;
  let socatEcho;
  let socatSource;
  try {
    socatSink = await startSocat(join(dir, 'cert.pem'), join(dir, 'key.pem'), peers.ports.tcpSink);
    socatEcho = await startSocat(join(dir, 'cert.pem'), join(dir, 'key.pem'), peers.ports.tcpEcho);
    socatSource = await startSocat(join(dir, 'cert.pem'), join(dir, 'key.pem'), peers.ports.tcpSource);
  } catch (error) {
    console.error(`socat unavailable (${error.message}); install the Debian package socat. Its rows are skipped.`);
  }
  const cleanup = async () => {
    socatSink?.child.kill();
    socatEcho?.child.kill();
    socatSource?.child.kill();
    l7r.child.disconnect();
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
    console.log(`TLS: L7R and bare sink ${cipher}; socat ${socatCipher} (${socatVersion()})\n`);

    const run = { total, gib, rounds, pings, concurrent, peers, l7r, socatSink, socatEcho, socatSource };
    if (only.includes('a')) await benchThroughput(run);
    if (only.includes('b')) await benchLatency(run);
    if (only.includes('c')) await benchTimeTo101(run);
    console.log(`\nLoad average ${loadavg()[0].toFixed(2)} at the end.`);
    console.log('Goals: >= 90 % of bare TLS throughput and faster than socat; added RTT < 100 us p50; time to 101 p50 < 20 ms.');
  } finally {
    await cleanup();
  }
}

/** (a) Bulk throughput both ways, rounds interleaved so drift hits every variant alike; CPU per GiB of the process that terminates TLS. */
async function benchThroughput({ total, gib, rounds, peers, l7r, socatSink, socatSource }) {
  for (const direction of ['upload', 'download']) {
    const move = direction === 'upload' ? bulk : download;
    const results = { bare: [], l7r: [], socat: [] };
    const cpu = { bare: [], l7r: [], socat: [] };
    const measure = async (name, pid, open) => {
      const socket = await open();
      const before = cpuSeconds(pid);
      results[name].push(await move(socket, total));
      // socat's per-connection child is reaped (and its CPU added to the parent) just after the connection ends.
      if (name === 'socat') await new Promise((resolve) => setTimeout(resolve, 200));
      cpu[name].push((cpuSeconds(pid) - before) / gib);
    };
    const socatPeer = direction === 'upload' ? socatSink : socatSource;
    for (let round = 0; round < rounds; round++) {
      await measure('bare', peers.child.pid, () => tls(direction === 'upload' ? peers.ports.tlsSink : peers.ports.tlsSource));
      await measure('l7r', l7r.child.pid, () => tunnel(l7r.ports.l7r, direction === 'upload' ? 1 : 3));
      if (socatPeer !== undefined) await measure('socat', socatPeer.child.pid, () => tls(socatPeer.port));
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
    if (socat !== undefined) console.log(`    L7R / socat throughput: ${(relay / socat).toFixed(2)}x`);
    const rounded = (values) => values.map((value) => (value / 2 ** 20).toFixed(0)).join(' ');
    console.log(`    all rounds (MiB/s): bare ${rounded(results.bare)}; l7r ${rounded(results.l7r)}; socat ${rounded(results.socat)}\n`);
  }
}

/** (b) 64-byte ping-pong latency: direct TLS echo, through the L7R, through socat. */
async function benchLatency({ pings, peers, l7r, socatEcho }) {
  const direct = await pingPong(await tls(peers.ports.tlsEcho), pings);
  const through = await pingPong(await tunnel(l7r.ports.l7r, 2), pings);
  const viaSocat = socatEcho === undefined ? undefined : await pingPong(await tls(socatEcho.port), pings);
  const row = (name, rtts) => `    ${name.padEnd(30)}${quantile(rtts, 0.5).toFixed(1).padStart(8)} us ${quantile(rtts, 0.99).toFixed(1).padStart(9)} us`;
  console.log(`(b) 64-byte ping-pong, ${pings} round trips`);
  console.log('    path                               p50         p99');
  console.log(row('direct TLS echo', direct));
  console.log(row('L7R tunnel -> TCP echo', through));
  if (viaSocat !== undefined) console.log(row('socat -> TCP echo', viaSocat));
  console.log(`    added by the L7R: p50 ${(quantile(through, 0.5) - quantile(direct, 0.5)).toFixed(1)} us, p99 ${(quantile(through, 0.99) - quantile(direct, 0.99)).toFixed(1)} us\n`);
}

/** (c) Time to 101 for N concurrent sessions: warm (TLS already up, N requests at once) and cold (TCP + TLS + request, all at once). */
async function benchTimeTo101({ concurrent, l7r }) {
  const openSession = async (socket, samples, since) => {
    socket.write(`GET /qvd/connect_to_vm?id=2 HTTP/1.1\r\nAuthorization: ${AUTH}\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\n\r\n`);
    let [status, rest] = await readHead(socket);
    while (status === 102) [status, rest] = await readHead(socket, rest);
    if (status !== 101) throw new Error(`expected 101, got ${status}`);
    samples.push(Number(process.hrtime.bigint() - since) / 1e6);
  };
  const warm = [];
  const warmSockets = await Promise.all(Array.from({ length: concurrent }, () => tls(l7r.ports.l7r)));
  const warmCpu = cpuSeconds(l7r.child.pid);
  const warmStart = process.hrtime.bigint();
  await Promise.all(warmSockets.map((socket) => openSession(socket, warm, warmStart)));
  const warmWall = Number(process.hrtime.bigint() - warmStart) / 1e6;
  const warmCpuPerSession = ((cpuSeconds(l7r.child.pid) - warmCpu) * 1000) / concurrent;
  for (const socket of warmSockets) socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 500));

  const cold = [];
  const coldSockets = [];
  if (arg('cold', 1) === 0) {
    console.log(`(c) warm only: p50 ${quantile(warm.sort((a, b) => a - b), 0.5).toFixed(1)} ms, p99 ${quantile(warm, 0.99).toFixed(1)} ms, L7R CPU/session ${warmCpuPerSession.toFixed(2)} ms`);
    return;
  }
  const coldCpu = cpuSeconds(l7r.child.pid);
  const coldStart = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrent }, async () => {
      const socket = await tls(l7r.ports.l7r);
      coldSockets.push(socket);
      await openSession(socket, cold, coldStart);
    }),
  );
  const coldWall = Number(process.hrtime.bigint() - coldStart) / 1e6;
  const coldCpuPerSession = ((cpuSeconds(l7r.child.pid) - coldCpu) * 1000) / concurrent;
  for (const socket of coldSockets) socket.destroy();
  warm.sort((a, b) => a - b);
  cold.sort((a, b) => a - b);
  console.log(`(c) time to 101, ${concurrent} concurrent sessions to running VMs`);
  console.log('                                                  p50         p99    last   L7R CPU/session');
  console.log(`    warm: TLS up, ${concurrent} requests sent at once ${quantile(warm, 0.5).toFixed(1).padStart(8)} ms ${quantile(warm, 0.99).toFixed(1).padStart(8)} ms ${warmWall.toFixed(0).padStart(5)} ms   ${warmCpuPerSession.toFixed(2)} ms`);
  console.log(`    cold: TCP + TLS + request, all at once  ${quantile(cold, 0.5).toFixed(1).padStart(8)} ms ${quantile(cold, 0.99).toFixed(1).padStart(8)} ms ${coldWall.toFixed(0).padStart(5)} ms   ${coldCpuPerSession.toFixed(2)} ms`);
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
