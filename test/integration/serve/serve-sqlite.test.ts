import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CERT_FILE, ensureTlsMaterial, fingerprintOf, KEY_FILE } from '../../../src/l7r/tls-material.js';
import { openRuntimeStore } from '../../../src/state/runtime-open.js';
import type { RuntimeStore } from '../../../src/state/runtime-store.js';
import { basic, connectToVm, QvdWireClient } from './qvd-wire-client.js';
import { build, domState, freePort, qvd, specYaml, startServeIn, until, writeSpec, type ServeProcess } from './serve-harness.js';

/**
 * One real test node, SQLite: apply creates the VM's objects; `qvd serve`
 * runs inside the node's namespace; a real TLS connect_to_vm starts the VM
 * (a real domain), the tunnel echoes through the guest's port 4100, and the
 * VM is idle-stopped once the tunnel is closed.
 */
/** The spec's settings.l7r.max_connections_per_address (the tests' connections come from one address). */
const PER_ADDRESS = 6;

describe('qvd serve on one node (SQLite)', () => {
  const env = inject('testenv');
  const node = env.nodes[0]!;
  let dir = '';
  let spec = '';
  let serve: ServeProcess | undefined;
  let runtime: RuntimeStore | undefined;

  // Where the L7R listens comes from the spec (serve runs without --listen), so that moving it can be tested.
  let l7rPort = 0;
  let l7rTls = '';
  const specText = (perAddress: number, tls = l7rTls): string =>
    specYaml({
      nodes: [node],
      image: env.image,
      net: { name: 'qvdsa', bridge: 'qvdsa0', prefix: `10.214.${node.index}` },
      database: `{ sqlite: ${join(dir, 'state.db')} }`,
      hkd: '{ start_timeout: 120s, stop_timeout: 10s, idle_stop: 4s, heartbeat: 1s, node_lost: 5s, max_parallel_ops: 2 }',
      l7r: `{ address: ${node.address}, port: ${l7rPort}, max_connections_per_address: ${perAddress}${tls === '' ? '' : `, tls: ${tls}`} }`,
      vms: `  - { name: sa-desk, user: alice, image: tiny, node: ${node.name}, ip: 10.214.${node.index}.20 }`,
    });

  beforeAll(async () => {
    await build();
    dir = await mkdtemp('/var/tmp/qvd-serve-it-');
    l7rPort = await freePort();
    spec = await writeSpec(dir, specText(PER_ADDRESS));
    await qvd(['apply', '-f', spec, '--auto-approve']);
    serve = await startServeIn(node, spec, dir, process.env, [], l7rPort);
    runtime = await openRuntimeStore({ kind: 'sqlite', path: join(dir, 'state.db') }, { actor: 'test' });
  });

  afterAll(async () => {
    await serve?.stop();
    await runtime?.close();
    if (spec !== '') await qvd(['destroy', '-f', spec, '--auto-approve', '--purge-homes']).catch((e: Error) => console.error(e.message));
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('answers ping and lists the user VM with its stable id', async () => {
    const c = await QvdWireClient.open(node.address, serve!.port);
    try {
      expect((await c.request('/qvd/ping', {})).status).toBe(200);
      const list = await c.request('/qvd/list_of_vm?', { Authorization: basic('alice', 'secret'), Accept: 'application/json' });
      expect(list.status).toBe(200);
      expect(JSON.parse(list.body)).toEqual([{ id: 1, state: 'stopped', name: 'sa-desk', blocked: 0, is_application: 0 }].map((v) => expect.objectContaining({ id: v.id, name: v.name, state: v.state })));
    } finally {
      c.close();
    }
  });

  it('connect_to_vm starts the real domain, becomes running when port 4100 answers, tunnels bytes, then idle-stops it', async () => {
    const vm = await runtime!.vmByName('sa-desk');
    const id = vm!.runtime.id;
    expect(await domState(node, 'qvd-sa-desk')).toBe('shut off');
    const conn = await connectToVm(node.address, serve!.port, basic('alice', 'secret'), id);
    console.log(`connect_to_vm → 101 in ${conn.ms} ms; progress: ${JSON.stringify(conn.progress)}`);
    expect(conn.status, conn.body).toBe(101);
    expect(conn.progress[0]).toBe(`starting VM on node ${node.name}`);
    expect(conn.progress).toContain('waiting for the desktop');
    expect(await domState(node, 'qvd-sa-desk')).toBe('running');
    const r = (await runtime!.vm(id))!.runtime;
    expect(r).toMatchObject({ state: 'running', node: node.name, userState: 'connected' });

    conn.client.socket.write('hello through the tunnel\n');
    expect((await conn.client.bytes(25)).toString()).toBe('hello through the tunnel\n');

    const events = await runtime!.events({ vmId: id });
    expect(events.map((e) => `${e.from}>${e.to}`)).toEqual(expect.arrayContaining(['stopped>starting', 'starting>running']));
    expect(events.filter((e) => e.to === 'starting' && e.from === 'stopped')).toHaveLength(1);

    const metrics = await fetchText(`http://${node.address}:${serve!.adminPort}/metrics`).catch(() => '');
    // The admin listener is on the node's address: reachable from the host through the veth.
    expect(metrics).toMatch(/qvd_vm_starts_total\{result="ok"\} 1/);

    const closedAt = Date.now();
    conn.client.close();
    await until('user disconnected', async () => (await runtime!.vm(id))!.runtime.userState === 'disconnected', 15_000);
    await until('idle stop', async () => (await runtime!.vm(id))!.runtime.state === 'stopped', 60_000);
    console.log(`idle-stopped ${Date.now() - closedAt} ms after the tunnel closed (idle_stop 4s)`);
    expect(await domState(node, 'qvd-sa-desk')).toBe('shut off');
    const stopEvents = (await runtime!.events({ vmId: id })).filter((e) => e.to === 'stopping');
    expect(stopEvents.at(-1)?.reason).toMatch(/idle/);
  });

  it('takes settings.l7r.max_connections_per_address from the spec: closes the connection past it at accept, counted in /metrics', async () => {
    // The earlier tests' connections are closed: this address holds none now.
    await until('earlier connections gone', async () => /qvd_l7r_sessions_active 0/.test(await fetchText(`http://${node.address}:${serve!.adminPort}/metrics`)), 15_000);
    const clients: QvdWireClient[] = [];
    try {
      for (let i = 0; i < PER_ADDRESS; i++) clients.push(await openWhenFree());
      await expect(QvdWireClient.open(node.address, serve!.port)).rejects.toThrow(/disconnected before secure TLS connection|ECONNRESET/);
      for (const c of clients) expect((await c.request('/qvd/ping', {})).status).toBe(200);
      const metrics = await fetchText(`http://${node.address}:${serve!.adminPort}/metrics`);
      expect(metrics).toMatch(/qvd_l7r_connections_refused_total\{reason="per_address"\} [1-9]/);
      await serve!.waitFor((l) => l['msg'] === 'connection refused at accept' && l['limit'] === 'per_address' && l['max'] === PER_ADDRESS, 5000);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('plans a change of settings alone, and the running serve takes it within seconds of the apply', async () => {
    await writeSpec(dir, specText(3));
    const plan = await qvd(['plan', '-f', spec, '--no-color']);
    expect(plan).toContain('~ settings');
    expect(plan).toContain('~ l7r.max_connections_per_address: 6 -> 3');
    expect(plan).toContain('Plan: 0 to add, 1 to change, 0 to destroy.');
    await qvd(['apply', '-f', spec, '--auto-approve']);
    const reloaded = await serve!.waitFor((l) => l['msg'] === 'settings reloaded', 15_000);
    expect(reloaded['changed']).toEqual(['l7r.max_connections_per_address']);
    const clients: QvdWireClient[] = [];
    try {
      for (let i = 0; i < 3; i++) clients.push(await openWhenFree());
      await expect(QvdWireClient.open(node.address, serve!.port)).rejects.toThrow(/disconnected before secure TLS connection|ECONNRESET/);
    } finally {
      for (const c of clients) c.close();
    }
    expect(await qvd(['plan', '-f', spec, '--no-color'])).toContain('No changes.');
  });

  it('replaces the L7R certificate from a changed spec, and from renewed files on SIGHUP, without a restart', async () => {
    const shown = async (): Promise<string> => {
      const c = await openWhenFree();
      const fingerprint = c.socket.getPeerCertificate().fingerprint256;
      c.close();
      return fingerprint;
    };
    const before = await shown();
    const files = await ensureTlsMaterial(join(dir, 'tls-a'));
    const [certFile, keyFile] = [join(dir, 'tls-a', CERT_FILE), join(dir, 'tls-a', KEY_FILE)];
    l7rTls = `{ cert: ${certFile}, key: ${keyFile} }`;
    await writeSpec(dir, specText(3));
    const plan = await qvd(['plan', '-f', spec, '--no-color']);
    expect(plan).toContain('~ l7r.tls.generate: true -> false');
    expect(plan).toContain(`+ l7r.tls.cert = "${certFile}"`);
    await qvd(['apply', '-f', spec, '--auto-approve']);
    await serve!.waitFor((l) => l['msg'] === 'L7R certificate loaded' && l['fingerprint'] === fingerprintOf(files.cert), 15_000);
    expect(await shown()).toBe(fingerprintOf(files.cert));
    expect(fingerprintOf(files.cert)).not.toBe(before);
    // Renewed in place (same paths, as certbot does), then SIGHUP: no spec change, no restart.
    const renewed = await ensureTlsMaterial(join(dir, 'tls-b'));
    await copyFile(join(dir, 'tls-b', KEY_FILE), keyFile);
    await copyFile(join(dir, 'tls-b', CERT_FILE), certFile);
    process.kill(serve!.child.pid!, 'SIGHUP');
    await serve!.waitFor((l) => l['msg'] === 'L7R certificate loaded' && l['fingerprint'] === fingerprintOf(renewed.cert), 15_000);
    expect(await shown()).toBe(fingerprintOf(renewed.cert));
  });

  it('moves the L7R to the port a changed spec names: open connections carry on, the heartbeat publishes the new address', async () => {
    const open = await openWhenFree();
    const oldPort = l7rPort;
    l7rPort = await freePort();
    await writeSpec(dir, specText(3));
    expect(await qvd(['plan', '-f', spec, '--no-color'])).toContain(`~ l7r.port: ${oldPort} -> ${l7rPort}`);
    await qvd(['apply', '-f', spec, '--auto-approve']);
    await serve!.waitFor((l) => l['msg'] === 'L7R listening' && l['port'] === l7rPort, 15_000);
    const moved = await QvdWireClient.open(node.address, l7rPort);
    expect((await moved.request('/qvd/ping', {})).status).toBe(200);
    moved.close();
    await expect(QvdWireClient.open(node.address, oldPort)).rejects.toThrow(/ECONNREFUSED/);
    expect((await open.request('/qvd/ping', {})).status).toBe(200);
    open.close();
    await until('the new address published', async () => (await runtime!.nodes()).find((n) => n.record.name === node.name)?.runtime?.l7rAddress === `${node.address}:${l7rPort}`, 10_000);
  });

  it('warns when an apply from another copy of the spec recorded settings this node\'s file does not have', async () => {
    // The admin's copy (same store, same everything, one setting different), applied from elsewhere.
    const theirs = await writeSpec(join(dir, 'admin'), specText(5));
    await qvd(['apply', '-f', theirs, '--auto-approve']);
    const stale = await serve!.waitFor((l) => l['msg'] === "this spec file differs from the settings the last apply recorded: update this node's copy", 15_000);
    expect(stale['settings']).toEqual(['l7r.max_connections_per_address']);
    expect(stale['file']).toBe(spec);
    // Applying this node's own file again makes them agree.
    await qvd(['apply', '-f', spec, '--auto-approve']);
  });

  /** The server may still count a connection an earlier test closed (its close is not seen yet): retry briefly. */
  async function openWhenFree(): Promise<QvdWireClient> {
    return until('a connection slot', () => QvdWireClient.open(node.address, serve!.port).catch(() => undefined), 5000, 50);
  }
});

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url);
  return res.text();
}
