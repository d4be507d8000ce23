// bench:connect — time from `qvd connect` starting to the first frame of
// the desktop (its colour on the user's Xvfb), through the whole product:
// the CLI, TLS to the L7R, the HKD starting the VM on demand, the VMA's
// x_start, NX through the tunnel.
//
//   npm run bench:connect [-- --cold N --warm N]
//
// - cold: the VM is stopped when the client starts (boot included);
// - warm: the VM runs and its X session is suspended (a reconnect: resume).
// One test node of its own (scripts/testenv/node-up.sh), the cached desktop
// image (scripts/build-desktop-image.sh); everything is torn down at the end.
// "First frame" is seen by screenshots every ~0.4 s: that is the resolution.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { openRuntimeStore } from '../src/state/runtime-open.js';
import type { RuntimeStore } from '../src/state/runtime-store.js';
import { ConnectProcess, desktopSpecYaml, l7rFingerprint, UserDisplay, VmaRelay, vmaSecretOf, type DesktopImageFiles } from '../test/integration/desktop/desktop-harness.js';
import { qvd, startServeIn, until, writeSpec, type ServeProcess } from '../test/integration/serve/serve-harness.js';
import { DESKTOP_COLOUR } from '../test/integration/vma/desktop-vm.js';
import { nodesDown, nodesUp, REPO, startLibvirt, type TestNode } from '../test/support/testenv.js';

const run = promisify(execFile);
const { values: args } = parseArgs({ options: { cold: { type: 'string', default: '1' }, warm: { type: 'string', default: '5' } } });
const COLD = Math.max(1, Number(args.cold));
const WARM = Math.max(1, Number(args.warm));
const VM = 'bench-desk';
const MIN_SHARE = 0.4;

interface Run {
  readonly connectedMs: number;
  readonly firstFrameMs: number;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : Math.round((s[m - 1]! + s[m]!) / 2);
};
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

async function desktopImage(): Promise<DesktopImageFiles> {
  const { stdout } = await run('bash', [join(REPO, 'scripts/build-desktop-image.sh'), process.env['QVD_TEST_IMAGE_CACHE'] ?? '/var/cache/qvd-test'], { timeout: 900_000, maxBuffer: 64 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '') as DesktopImageFiles;
}

async function main(): Promise<void> {
  const cleanup: (() => Promise<unknown>)[] = [];
  const onSignal = (): void => void teardown().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let tornDown = false;
  async function teardown(): Promise<void> {
    if (tornDown) return;
    tornDown = true;
    for (const c of cleanup.splice(0).reverse()) await c().catch((e: unknown) => console.error(`cleanup: ${(e as Error).message}`));
  }
  try {
    await startLibvirt();
    const image = await desktopImage();
    const [node] = (await nodesUp(1, `qvdbc${process.pid.toString(36)}n`)) as [TestNode];
    cleanup.push(() => nodesDown([node]));
    const dir = await mkdtemp(join('/var/tmp', 'qvd-bench-connect-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const db = join(dir, 'state.db');
    const spec = await writeSpec(
      dir,
      desktopSpecYaml({
        nodes: [node],
        image,
        net: { name: 'qvdbc', bridge: 'qvdbc0', prefix: '10.214.251' },
        database: `{ sqlite: ${db} }`,
        hkd: '{ start_timeout: 240s, stop_timeout: 30s, idle_stop: 1h, heartbeat: 5s, node_lost: 30s }',
        users: ['alice'],
        vms: [{ name: VM, user: 'alice', node: node.name, ip: '10.214.251.21' }],
      }),
    );
    await qvd(['apply', '-f', spec, '--auto-approve']);
    cleanup.push(() => qvd(['destroy', '-f', spec, '--auto-approve', '--purge-homes']));
    const serve: ServeProcess = await startServeIn(node, spec, dir, process.env);
    cleanup.push(() => serve.stop());
    const runtime: RuntimeStore = await openRuntimeStore({ kind: 'sqlite', path: db }, { actor: 'bench' });
    cleanup.push(() => runtime.close());
    const fingerprint = await l7rFingerprint(dirname(spec));
    const relay = new VmaRelay(node, '10.214.251.21', await vmaSecretOf(db, VM));
    cleanup.push(() => relay.stop());
    const display = new UserDisplay();
    await display.start();
    cleanup.push(() => display.stop());
    const id = (await runtime.vmByName(VM))!.runtime.id;
    const shots = await mkdtemp(join(tmpdir(), 'qvd-bench-shots-'));
    cleanup.push(() => rm(shots, { recursive: true, force: true }));

    const once = async (label: string): Promise<Run> => {
      const c = ConnectProcess.spawn({ host: node.address, port: serve.port, user: 'alice', vm: VM, fingerprint, display });
      try {
        await c.waitFor(new RegExp(`Connected to ${VM}:`), 300_000);
        const connectedMs = Date.now() - c.startedAt;
        const seen = await display.waitForColour(DESKTOP_COLOUR, join(shots, `${label}.png`), 60_000, MIN_SHARE);
        if (seen.count < seen.total * MIN_SHARE) throw new Error(`${label}: the desktop did not show (${seen.histogram})\n${c.text}`);
        return { connectedMs, firstFrameMs: Date.now() - c.startedAt };
      } finally {
        await c.stop('SIGTERM');
        // Next run starts from a suspended session and an empty screen.
        await until('user disconnected', async () => (await runtime.vm(id))?.runtime.userState === 'disconnected', 30_000);
      }
    };
    const stopVm = async (): Promise<void> => {
      await runtime.transitionVm(id, { state: 'running', command: null }, { command: 'stop' }, 'bench: stopped for a cold run');
      await until('VM stopped', async () => (await runtime.vm(id))?.runtime.state === 'stopped', 120_000, 500);
    };

    console.log(`bench:connect on ${node.name} (TCG, 384 MiB guest), load average ${load()}`);
    const cold: Run[] = [];
    for (let i = 0; i < COLD; i++) {
      if (i > 0) await stopVm();
      const r = await once(`cold-${i}`);
      cold.push(r);
      console.log(`  cold #${i + 1}: connected (101 + nxproxy) ${r.connectedMs} ms, first frame ${r.firstFrameMs} ms  (load ${load()})`);
    }
    const warm: Run[] = [];
    for (let i = 0; i < WARM; i++) {
      await (await relay.client()).waitForXState(['suspended', 'listening'], 30_000);
      const r = await once(`warm-${i}`);
      warm.push(r);
      console.log(`  warm #${i + 1}: connected (101 + nxproxy) ${r.connectedMs} ms, first frame ${r.firstFrameMs} ms  (load ${load()})`);
    }
    console.log('');
    console.log(`stopped VM → first frame: ${cold.length === 1 ? `${cold[0]!.firstFrameMs} ms` : `median ${median(cold.map((r) => r.firstFrameMs))} ms of ${cold.length} (${cold.map((r) => r.firstFrameMs).join(', ')})`}`);
    console.log(`running VM (reconnect) → first frame: median ${median(warm.map((r) => r.firstFrameMs))} ms of ${warm.length} (${warm.map((r) => r.firstFrameMs).join(', ')}); to "Connected" median ${median(warm.map((r) => r.connectedMs))} ms`);
  } finally {
    await teardown();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
