import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { VmaClient } from '../../../src/vma/vma-client.js';
import { DESKTOP_COLOUR, DesktopVm, NxViewer, type DesktopImage } from './desktop-vm.js';

/**
 * The desktop image on a real test node under software emulation: the VMA
 * boots, provisions the user and the home disk, runs nxagent; an nxproxy on
 * an Xvfb inside the node's namespace shows the test desktop's colour; the
 * session survives the client's loss and resumes with a new cookie; poweroff
 * shuts the domain off; the home survives a reboot on a fresh root overlay.
 * Screenshots are kept in EVIDENCE for inspection.
 */
const EVIDENCE = '/var/tmp/qvd-desktop-evidence';
const image = inject('desktopImage');
const env = inject('testenv');
const cookie = (): string => randomBytes(16).toString('hex');

describe('desktop guest: VMA + nxagent under TCG', () => {
  let vm: DesktopVm;
  let viewer: NxViewer;
  let vma: VmaClient;
  let bootedAt = 0;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    if ('error' in image) throw new Error(image.error);
    const node = env.nodes[0];
    if (node === undefined) throw new Error('no test node');
    mkdirSync(EVIDENCE, { recursive: true });
    vm = new DesktopVm(node, image satisfies DesktopImage);
    viewer = new NxViewer(node);
    await vm.define();
    await viewer.startX();
    bootedAt = await vm.start();
  });

  afterAll(async () => {
    console.log(`desktop guest timings (ms): ${JSON.stringify(timings)}`);
    await viewer?.stop();
    await vm?.destroy();
  });

  it('boots and the VMA answers ping with the VM secret only', async () => {
    timings['bootToVmaReady'] = await vm.waitForVma(bootedAt, 240_000);
    vma = await vm.vma();
    expect(await vma.call('ping')).toMatchObject({ alive: true });
    const stranger = await vm.vma(8000, 'f'.repeat(64));
    await expect(stranger.call('x_start', { user: 'mallory', cookie: cookie() })).rejects.toMatchObject({ status: 401 });
    expect(await vma.call('x_state')).toMatchObject({ state: 'stopped' });
    // `quiet`: the kernel does not echo its command line (with the secret) to the console.
    expect(await vm.serial()).not.toContain(vm.secret);
  });

  let c1 = '';
  it('x_start provisions the user and the home disk and reaches listening', async () => {
    c1 = cookie();
    const t0 = Date.now();
    expect((await vma.call('x_start', { user: 'Alice@acme', cookie: c1, 'qvd.client.geometry': '800x600', 'qvd.client.link': 'lan' })).state).toBe('starting');
    const s = await vma.waitForXState(['listening'], 120_000);
    timings['xStartToListening'] = Date.now() - t0;
    timings['bootToListening'] = Date.now() - bootedAt;
    expect(s).toMatchObject({ state: 'listening', user: 'alice', home: { device: '/dev/vdb', formatted: true } });
  });

  it('nxproxy shows the session: the test colour is on the screen, x_state connected', async () => {
    const t0 = Date.now();
    await viewer.connect(vm.ip, c1);
    await vma.waitForXState(['connected'], 60_000);
    timings['nxproxyToConnected'] = Date.now() - t0;
    const shot = join(EVIDENCE, `desktop-${vm.suffix}-1.png`);
    const c = await viewer.waitForColour(DESKTOP_COLOUR, shot, 60_000);
    timings['nxproxyToColour'] = Date.now() - t0;
    console.log(`screenshot ${shot}: ${DESKTOP_COLOUR} on ${c.count} of ${c.total} pixels (top colours: ${c.histogram})`);
    expect(c.count).toBeGreaterThan(c.total * 0.2);
  });

  it('client loss suspends the session; a new x_start resumes it with a new cookie', async () => {
    await viewer.disconnect();
    await vma.waitForXState(['suspended'], 60_000);
    const c2 = cookie();
    await vma.call('x_start', { user: 'alice', cookie: c2 });
    await vma.waitForXState(['listening'], 60_000);
    await viewer.connect(vm.ip, c2);
    const connected = await vma.waitForXState(['connected'], 60_000);
    expect(connected.agentRestarts).toBe(0);
    const shot = join(EVIDENCE, `desktop-${vm.suffix}-2-resumed.png`);
    const c = await viewer.waitForColour(DESKTOP_COLOUR, shot, 60_000);
    console.log(`after resume ${shot}: ${DESKTOP_COLOUR} on ${c.count} of ${c.total} pixels`);
  });

  it('a takeover (x_start while connected) drops the old client and listens for the new one', async () => {
    const c3 = cookie();
    await vma.call('x_start', { user: 'alice', cookie: c3 });
    await vma.waitForXState(['listening'], 60_000);
    await viewer.connect(vm.ip, c3);
    await vma.waitForXState(['connected'], 60_000);
  });

  it('poweroff ends the session and shuts the domain off', async () => {
    const t0 = Date.now();
    await vma.call('poweroff');
    await vm.waitForState('shut off', 90_000);
    timings['poweroffToShutOff'] = Date.now() - t0;
    await viewer.disconnect();
  });

  it('the home survives a reboot on a fresh root overlay', async () => {
    const second = await vm.start();
    timings['secondBootToVmaReady'] = await vm.waitForVma(second, 240_000);
    vma = await vm.vma();
    const c4 = cookie();
    await vma.call('x_start', { user: 'alice', cookie: c4 });
    expect(await vma.waitForXState(['listening'], 120_000)).toMatchObject({ home: { device: '/dev/vdb', formatted: false } });
    await viewer.connect(vm.ip, c4);
    await vma.waitForXState(['connected'], 60_000);
    await viewer.waitForColour(DESKTOP_COLOUR, join(EVIDENCE, `desktop-${vm.suffix}-3-reboot.png`), 60_000);
    // The test desktop counts its runs in ~/.qvd-test-sessions: 2 means the
    // file of the first boot was still there.
    await vma.call('poweroff');
    await vm.waitForState('shut off', 90_000);
    expect((await vm.readHomeFile('/alice/.qvd-test-sessions')).trim()).toBe('2');
    // What the session's user could read: the secret is hidden from /proc/cmdline and dmesg.
    const cmdline = await vm.readHomeFile('/alice/.qvd-test-cmdline');
    expect(cmdline).toContain('qvd.vma_secret=(hidden)');
    expect(cmdline).not.toContain(vm.secret);
    expect(await vm.readHomeFile('/alice/.qvd-test-dmesg')).not.toContain(vm.secret);
  });
});
