import { mkdirSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ClientSession } from '../../../src/client/connect-options.js';
import { openRuntimeStore } from '../../../src/state/runtime-open.js';
import type { RuntimeStore } from '../../../src/state/runtime-store.js';
import { build, domState, qvd, startServeIn, until, writeSpec, type ServeProcess } from '../serve/serve-harness.js';
import { script } from '../../support/testenv.js';
import { DESKTOP_COLOUR } from '../vma/desktop-vm.js';
import { ConnectProcess, DESKTOP_PASSWORD, desktopSpecYaml, l7rFingerprint, UserDisplay, vmaSecretOf, VmaRelay } from './desktop-harness.js';
import { connectAsOriginalClient } from './original-client.js';

/**
 * The product end to end: `qvd apply` defines two desktop VMs (the real
 * desktop image, direct boot, agent secrets on their command lines); `qvd
 * serve` runs inside the node's namespace; alice and bob each run `qvd
 * connect` (the CLI) on their own Xvfb on the host. Each connect makes the
 * HKD start the user's VM on demand, the L7R starts the X session through
 * the VM's agent with a fresh NX cookie, and the desktop's colour appears on
 * the user's screen. Then alice quits: her X session waits again, her user
 * state is disconnected, and after idle_stop the HKD powers her VM off
 * through the agent. Meanwhile bob connects a second time from the other
 * screen: his first session is taken over, the X session resumes there.
 * Last, bob takes it over once more with an original QVD client, whose
 * nxproxy carries no NX cookie.
 */
const EVIDENCE = '/var/tmp/qvd-desktop-evidence';
const image = inject('desktopImage');
const env = inject('testenv');
const MIN_SHARE = 0.4;

describe('qvd connect → L7R → HKD → VMA → NX desktop (two users)', () => {
  const node = env.nodes[0]!;
  // Subnets need only be unique within a node; the other tests use 10.214.INDEX and 10.214.100-249.
  const prefix = '10.214.252';
  const vms = [
    { name: 'e2e-alice', user: 'alice', node: node.name, ip: `${prefix}.21` },
    { name: 'e2e-bob', user: 'bob', node: node.name, ip: `${prefix}.22` },
  ];
  let dir = '';
  let spec = '';
  let db = '';
  let serve: ServeProcess | undefined;
  let runtime: RuntimeStore | undefined;
  let fingerprint = '';
  const displays: UserDisplay[] = [];
  const connects: ConnectProcess[] = [];
  const relays: VmaRelay[] = [];
  const originals: ClientSession[] = [];

  beforeAll(async () => {
    if ('error' in image) throw new Error(image.error);
    mkdirSync(EVIDENCE, { recursive: true });
    const t0 = Date.now();
    await build();
    dir = await mkdtemp('/var/tmp/qvd-desktop-e2e-');
    db = join(dir, 'state.db');
    spec = await writeSpec(
      dir,
      desktopSpecYaml({
        nodes: [node],
        image,
        net: { name: 'qvde2e', bridge: 'qvde2e0', prefix },
        database: `{ sqlite: ${db} }`,
        hkd: '{ start_timeout: 180s, stop_timeout: 30s, idle_stop: 20s, heartbeat: 2s, node_lost: 10s, vma_ping: 10s }',
        users: ['alice', 'bob'],
        vms,
      }),
    );
    const plan = await qvd(['plan', '-f', spec, '--json']);
    // The plan names the secret but never shows it.
    expect(plan).toContain('qvd.vma_secret=(sensitive)');
    await qvd(['apply', '-f', spec, '--auto-approve']);
    // Applied: planning again finds no drift (apply and plan derive the same secrets).
    expect(await qvd(['plan', '-f', spec])).toContain('No changes.');
    serve = await startServeIn(node, spec, dir, process.env);
    runtime = await openRuntimeStore({ kind: 'sqlite', path: db }, { actor: 'test' });
    fingerprint = await l7rFingerprint(dirname(spec));
    for (const vm of vms) relays.push(new VmaRelay(node, vm.ip, await vmaSecretOf(db, vm.name)));
    for (let i = 0; i < 2; i++) {
      const d = new UserDisplay();
      await d.start(700 + i * 250);
      displays.push(d);
    }
    console.log(`setup (build, apply, serve, displays): ${Date.now() - t0} ms`);
  });

  afterAll(async () => {
    for (const c of connects) await c.stop('SIGTERM', 5000).catch(() => undefined);
    for (const o of originals) await o.close().catch(() => undefined);
    await serve?.stop();
    if (serve !== undefined) await copyFile(serve.log, join(EVIDENCE, 'e2e-serve.log')).catch(() => undefined);
    await runtime?.close();
    for (const r of relays) await r.stop();
    for (const d of displays) await d.stop();
    if (spec !== '') await qvd(['destroy', '-f', spec, '--auto-approve', '--purge-homes']).catch((e: Error) => console.error(e.message));
    // destroy leaves the domains' serial logs in the pool directory; other tests list that pool.
    for (const vm of vms) await rm(join(node.storageDir, `vm-${vm.name}-console.log`), { force: true });
    await script('node-exec.sh', [node.name, node.stateDir, 'virsh', '-c', 'qemu:///system', 'pool-refresh', 'qvd']).catch(() => '');
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('both users see their own desktop; bob takes his session over, then with an original client; alice quits and her VM is powered off through its agent after idle_stop', async () => {
    for (const vm of vms) expect(await domState(node, `qvd-${vm.name}`)).toBe('shut off');

    const [alice, bob] = vms.map((vm, i) =>
      ConnectProcess.spawn({ host: node.address, port: serve!.port, user: vm.user, vm: vm.name, fingerprint, display: displays[i]! }),
    ) as [ConnectProcess, ConnectProcess];
    connects.push(alice, bob);

    // Each connect reports its own VM, then its desktop shows up on its own screen.
    const shown = await Promise.all(
      [alice, bob].map(async (c, i) => {
        const vm = vms[i]!;
        await c.waitFor(new RegExp(`Connected to ${vm.name}:`), 200_000);
        const connectedMs = Date.now() - c.startedAt;
        const shot = join(EVIDENCE, `e2e-${vm.user}.png`);
        const colour = await displays[i]!.waitForColour(DESKTOP_COLOUR, shot, 60_000, MIN_SHARE);
        const firstFrameMs = Date.now() - c.startedAt;
        console.log(`${vm.user}: connected after ${connectedMs} ms, ${DESKTOP_COLOUR} on screen after ${firstFrameMs} ms (${colour.count} of ${colour.total} pixels; ${shot})`);
        return colour;
      }),
    );
    for (const [i, c] of shown.entries()) expect(c.count, `${vms[i]!.user}'s screen: ${c.histogram}\n${[alice, bob][i]!.text}`).toBeGreaterThan(c.total * MIN_SHARE);
    expect(alice.text).toMatch(/starting the desktop session/);

    // Each VM's X session belongs to its own user and has a client.
    const agents = await Promise.all(relays.map((r) => r.client()));
    for (const [i, agent] of agents.entries()) {
      const x = await agent.waitForXState(['connected'], 30_000);
      expect(x.user).toBe(vms[i]!.user);
    }
    const ids = await Promise.all(vms.map(async (vm) => (await runtime!.vmByName(vm.name))!.runtime.id));
    for (const id of ids) expect((await runtime!.vm(id))?.runtime).toMatchObject({ state: 'running', userState: 'connected' });
    const readyEvents = (await runtime!.events({ vmId: ids[0]! })).filter((e) => e.from === 'starting' && e.to === 'running');
    expect(readyEvents.at(-1)?.reason).toMatch(/VMA .* answers/);
    // The secret went in on the kernel command line and did not come out on the serial console.
    const serial = await readFile(join(node.storageDir, 'vm-e2e-alice-console.log'), 'utf8');
    expect(serial).toContain('VMA listening');
    expect(serial).not.toContain(relays[0]!.secret);

    // Alice quits: her agent waits for a client again, her user state is disconnected.
    const quitAt = Date.now();
    expect(await alice.stop('SIGTERM')).toBe(0);
    expect(alice.text).toMatch(/Session ended/);
    const x = await agents[0]!.waitForXState(['suspended', 'listening'], 30_000);
    expect(x.user).toBe('alice');
    await until('alice disconnected', async () => (await runtime!.vm(ids[0]!))?.runtime.userState === 'disconnected', 30_000);

    // Meanwhile (alice's idle timer runs), bob connects again from the other
    // screen: his first session is taken over and closed, the new one
    // resumes the same X session (no agent restart) with a fresh cookie.
    const blank = await displays[0]!.waitForColour('#000000', join(EVIDENCE, 'e2e-blank.png'), 15_000, 0.99);
    expect(blank.count).toBeGreaterThan(blank.total * 0.99);
    const bob2 = ConnectProcess.spawn({ host: node.address, port: serve!.port, user: 'bob', vm: 'e2e-bob', fingerprint, display: displays[0]! });
    connects.push(bob2);
    await bob2.waitFor(/Connected to e2e-bob:/, 60_000);
    const taken = await displays[0]!.waitForColour(DESKTOP_COLOUR, join(EVIDENCE, 'e2e-bob-takeover.png'), 60_000, MIN_SHARE);
    console.log(`bob again (takeover): ${DESKTOP_COLOUR} on screen after ${Date.now() - bob2.startedAt} ms`);
    expect(taken.count).toBeGreaterThan(taken.total * MIN_SHARE);
    await bob.exited;
    expect(bob.text).toMatch(/Session ended \((server-closed|nxproxy-exited)\)/);
    const xb = await agents[1]!.waitForXState(['connected'], 30_000);
    expect(xb).toMatchObject({ user: 'bob', agentRestarts: 0 });

    // After idle_stop the HKD powers her VM off through the agent.
    await until('alice VM stopped', async () => (await runtime!.vm(ids[0]!))?.runtime.state === 'stopped', 90_000, 500);
    console.log(`alice's VM stopped ${Date.now() - quitAt} ms after her client quit (idle_stop 20s)`);
    const events = await runtime!.events({ vmId: ids[0]! });
    expect(events.filter((e) => e.to === 'stopping').at(-1)?.reason).toMatch(/^idle/);
    expect(events.at(-1)?.reason).toBe('stopped (VMA poweroff)');
    expect(await domState(node, 'qvd-e2e-alice')).toBe('shut off');

    // Bob's (second) session was not disturbed.
    expect(bob2.running).toBe(true);
    expect((await runtime!.vm(ids[1]!))?.runtime).toMatchObject({ state: 'running', userState: 'connected' });
    expect((await agents[1]!.call('x_state')).state).toBe('connected');

    // Bob once more, now with an original QVD client on the screen his first
    // session left: its nxproxy has no cookie, the agent's X session demands
    // the fresh one the L7R made for this connection, so the desktop shows
    // only because the L7R puts that cookie into the client's NX hello.
    // Without a cookie nxproxy cannot swap in the screen's real X cookie, so
    // that screen admits its user's local programs as a GNOME login does.
    await displays[1]!.allowLocalUser();
    const left = await displays[1]!.waitForColour('#000000', join(EVIDENCE, 'e2e-blank-2.png'), 15_000, 0.99);
    expect(left.count).toBeGreaterThan(left.total * 0.99);
    const original = await connectAsOriginalClient({ host: node.address, port: serve!.port, user: 'bob', password: DESKTOP_PASSWORD, vm: 'e2e-bob', display: displays[1]! });
    originals.push(original.session);
    expect(original.slaveKey).toMatch(/^[A-Za-z0-9]{64}$/);
    const shownOriginal = await displays[1]!.waitForColour(DESKTOP_COLOUR, join(EVIDENCE, 'e2e-bob-original-client.png'), 60_000, MIN_SHARE);
    console.log(`bob with the original client (no cookie): ${DESKTOP_COLOUR} on screen after ${shownOriginal.ms} ms; 102s: ${original.vmInfo.join(' | ')}`);
    if (shownOriginal.count <= shownOriginal.total * MIN_SHARE) {
      const end = await original.session.close();
      expect.fail(`no desktop with the original client (${shownOriginal.histogram}); session ${JSON.stringify({ ...end, nxproxyLog: undefined })}; nxproxy log:\n${end.nxproxyLog}`);
    }
    await bob2.exited;
    expect(bob2.text).toMatch(/Session ended \((server-closed|nxproxy-exited)\)/);
    expect(await agents[1]!.waitForXState(['connected'], 30_000)).toMatchObject({ user: 'bob', agentRestarts: 0 });
    const end = await original.session.close();
    expect(end.bytesFromServer).toBeGreaterThan(0);
  });
});
