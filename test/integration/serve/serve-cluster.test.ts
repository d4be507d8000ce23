import { mkdtemp, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openRuntimeStore } from '../../../src/state/runtime-open.js';
import type { RuntimeStore } from '../../../src/state/runtime-store.js';
import { startClusterPostgres, type ClusterPostgres } from '../../support/postgres-cluster.js';
import { routeNodes } from './node-routes.js';
import { basic, connectToVm } from './qvd-wire-client.js';
import { build, domState, freePort, qvd, specYaml, startServeIn, until, writeSpec, type ServeProcess } from './serve-harness.js';

/**
 * Two real test nodes, each with its own `qvd serve` inside its namespace,
 * sharing one real PostgreSQL (reached over the veths), and routed to each
 * other's address like a cluster's nodes (each guest network stays private
 * to its node). Concurrent connects through both L7Rs start the VM exactly
 * once; a connect through the L7R of the node the VM does not run on is
 * relayed by the L7R of the node it runs on; SIGKILL of the serve where it
 * runs gets that node marked lost and the next connect runs the VM on the
 * other node.
 */
describe('qvd serve cluster (two nodes, PostgreSQL)', () => {
  const env = inject('testenv');
  const [n1, n2] = [env.nodes[0]!, env.nodes[1]!];
  let dir = '';
  let spec = '';
  let pg: ClusterPostgres | undefined;
  let runtime: RuntimeStore | undefined;
  let unroute: (() => Promise<void>) | undefined;
  const serves = new Map<string, ServeProcess>();
  /** Where the VM was placed (and first runs), and the node it is then relayed from. */
  let home = n1;
  let other = n2;
  let id = 0;
  const envFor = (address: string): NodeJS.ProcessEnv => ({ ...process.env, QVD_TEST_PG: pg!.url(address) });

  beforeAll(async () => {
    await build();
    pg = await startClusterPostgres([n1.hostAddress, n2.hostAddress], await freePort());
    dir = await mkdtemp('/var/tmp/qvd-serve-cluster-');
    spec = await writeSpec(
      dir,
      specYaml({
        nodes: [n1, n2],
        image: env.image,
        // One guest subnet for the cluster: a VM keeps its IP on whichever node it runs.
        net: { name: 'qvdsc', bridge: 'qvdsc0', prefix: '10.214.250' },
        database: '{ postgres: { url_env: QVD_TEST_PG } }',
        hkd: '{ start_timeout: 150s, stop_timeout: 10s, idle_stop: 1h, heartbeat: 1s, node_lost: 4s, max_parallel_ops: 2 }',
        vms: '  - { name: sc-desk, user: alice, image: tiny }',
      }),
    );
    await qvd(['apply', '-f', spec, '--auto-approve'], envFor('127.0.0.1'));
    runtime = await openRuntimeStore({ kind: 'postgres', url: pg.url('127.0.0.1') }, { actor: 'test' });
    unroute = await routeNodes(n1, n2);
    for (const n of [n1, n2]) serves.set(n.name, await startServeIn(n, spec, dir, envFor(n.hostAddress)));
  });

  afterAll(async () => {
    for (const s of serves.values()) await s.stop().catch(() => undefined);
    await unroute?.();
    await runtime?.close();
    if (spec !== '') await qvd(['destroy', '-f', spec, '--auto-approve', '--purge-homes'], envFor('127.0.0.1')).catch((e: Error) => console.error(e.message));
    await pg?.stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('starts the VM exactly once for 20 concurrent connects through both L7Rs', async () => {
    const vm = (await runtime!.vmByName('sc-desk'))!;
    id = vm.runtime.id;
    const placed = vm.record.node;
    other = placed === n1.name ? n2 : n1;
    home = placed === n1.name ? n1 : n2;
    expect(vm.record.nodePinned).toBe(false);

    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const n = i % 2 === 0 ? home : other;
        return connectToVm(n.address, serves.get(n.name)!.port, basic('alice', 'secret'), id).then((r) => ({ ...r, via: n.name }));
      }),
    );
    const summary = results.map((r) => `${r.via}:${r.status}${r.body === undefined ? '' : ` ${r.body.trim()}`}`);
    console.log(`20 concurrent connects in ${Date.now() - t0} ms:\n  ${summary.join('\n  ')}`);
    const events = await runtime!.events({ vmId: id });
    expect(events.filter((e) => e.from === 'stopped' && e.to === 'starting')).toHaveLength(1);
    expect(events.filter((e) => e.from === 'stopped' && e.to === 'stopped' && e.command === 'start')).toHaveLength(1);
    expect(await domState(home, 'qvd-sc-desk')).toBe('running');
    expect(await domState(other, 'qvd-sc-desk')).not.toBe('running');
    // Each connect takes the session over from the one before (or is cut off by a later one before its 101).
    expect(results.every((r) => r.status === 101 || r.status === 503)).toBe(true);
    expect(results.filter((r) => r.status === 101).length).toBeGreaterThanOrEqual(1);
    for (const r of results) r.client.close();
    // A new session through the L7R of the node it runs on echoes from the guest's port 4100.
    const through = await connectToVm(home.address, serves.get(home.name)!.port, basic('alice', 'secret'), id);
    expect(through.status, through.body).toBe(101);
    through.client.socket.write('ping\n');
    expect((await through.client.bytes(5, 10_000)).toString()).toBe('ping\n');
    through.client.close();
  });

  it('relays a connect through the other node\'s L7R to the guest on the VM\'s node, both ways; a local connect then takes the session over', async () => {
    // The guest's network is private to its node: only the relay through the home L7R reaches it.
    const relayed = await connectToVm(other.address, serves.get(other.name)!.port, basic('alice', 'secret'), id);
    expect(relayed.status, relayed.body).toBe(101);
    relayed.client.socket.write('through the relay\n');
    expect((await relayed.client.bytes(18, 10_000)).toString()).toBe('through the relay\n');
    const payload = Buffer.alloc(256 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 9)) & 0xff;
    relayed.client.socket.write(payload);
    expect((await relayed.client.bytes(payload.length, 60_000)).equals(payload)).toBe(true);
    // The session is held by the relaying node; the VM's node relays it.
    await until('session connected via the other node', async () => {
      const r = (await runtime!.vm(id))!.runtime;
      return r.userState === 'connected' && r.session?.node === other.name && r.node === home.name;
    }, 10_000);
    await serves.get(home.name)!.waitFor((l) => l['msg'] === 'relay connected' && l['relayFrom'] === other.name, 10_000);

    // A connect on the VM's own node takes the relayed session over: the relayed client is cut.
    const local = await connectToVm(home.address, serves.get(home.name)!.port, basic('alice', 'secret'), id);
    expect(local.status, local.body).toBe(101);
    await until('relayed client cut', async () => relayed.client.socket.destroyed || relayed.client.socket.readableEnded, 15_000);
    local.client.socket.write('local again\n');
    expect((await local.client.bytes(12, 10_000)).toString()).toBe('local again\n');
    await until('session held locally', async () => (await runtime!.vm(id))!.runtime.session?.node === home.name, 10_000);
    local.client.close();
    relayed.client.close();
    await until('user disconnected', async () => (await runtime!.vm(id))!.runtime.userState === 'disconnected', 15_000);
  });

  it('fails the VM over to the other node after SIGKILL of its node\'s serve, and relays from the returning node', async () => {
    // SIGKILL the serve of the node where the VM runs.
    const killedAt = Date.now();
    await serves.get(home.name)!.stop('SIGKILL');
    serves.delete(home.name);
    const lostAt = await until('node lost', async () => ((await runtime!.nodes()).find((n) => n.record.name === home.name)?.runtime?.state === 'lost' ? Date.now() : undefined), 30_000, 100);
    expect((await runtime!.vm(id))!.runtime).toMatchObject({ state: 'stopped', node: null });
    const again = await connectToVm(other.address, serves.get(other.name)!.port, basic('alice', 'secret'), id);
    const upAt = Date.now();
    expect(again.status, again.body).toBe(101);
    console.log(`SIGKILL → node ${home.name} lost in ${lostAt - killedAt} ms; → VM running on ${other.name} (101) in ${upAt - killedAt} ms (start ${again.ms} ms)`);
    expect((await runtime!.vm(id))!.runtime).toMatchObject({ state: 'running', node: other.name });
    expect(await domState(other, 'qvd-sc-desk')).toBe('running');
    again.client.socket.write('after failover\n');
    expect((await again.client.bytes(15)).toString()).toBe('after failover\n');
    again.client.close();

    // The lost node's serve comes back: the copy left running there is destroyed.
    serves.set(home.name, await startServeIn(home, spec, dir, envFor(home.hostAddress)));
    await until('stray copy destroyed', async () => (await domState(home, 'qvd-sc-desk')) !== 'running', 60_000);
    expect((await runtime!.nodes()).find((n) => n.record.name === home.name)?.runtime?.state).toBe('running');
    expect((await runtime!.vm(id))!.runtime).toMatchObject({ state: 'running', node: other.name });

    // Now the relay runs the other way: through the returned node's L7R to the VM on the other node.
    const back = await connectToVm(home.address, serves.get(home.name)!.port, basic('alice', 'secret'), id);
    expect(back.status, back.body).toBe(101);
    back.client.socket.write('relayed back\n');
    expect((await back.client.bytes(13, 10_000)).toString()).toBe('relayed back\n');
    back.client.close();
  });
});
