import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { openStore } from '../../../src/state/open-store.js';
import { domains, onNode, volumes } from '../../support/node-inspect.js';
import { collect, qvd, startQvd, waitForOutput } from '../../support/qvd-cli.js';
import { testNetwork, writeSpec, type SpecOptions } from '../../support/spec-for-testenv.js';
import { script } from '../../support/testenv.js';

const env = inject('testenv');
const [n1, n2] = env.nodes;
const net = testNetwork(2);
const specs: string[] = [];
const spec = async (opts: Omit<SpecOptions, 'network'>, dir?: string): Promise<string> => {
  const f = await writeSpec(env, { ...opts, network: net }, dir);
  specs.push(f);
  return f;
};
const three = [{ name: 'sf-a', node: 'n1' }, { name: 'sf-b', node: 'n1' }, { name: 'sf-c', node: 'n2' }] as const;

interface PlanJson {
  changes: { kind: string; action: string; node?: string; volume?: string; role?: string }[];
  diagnostics: { severity: string; summary: string; node?: string }[];
}
const planJson = async (file: string): Promise<PlanJson> => JSON.parse((await qvd(['plan', '-f', file, '--json'])).stdout) as PlanJson;

/** Everything qvd manages on a node, for "nothing orphaned" checks. */
const managed = async (): Promise<string[]> => [...(await domains(n1!)), ...(await volumes(n1!)), ...(await domains(n2!)), ...(await volumes(n2!))].sort();

afterEach(async () => {
  // Whatever a test did, the nodes end empty for the next one.
  await script('node-start-sshd.sh', [n2!.name, n2!.stateDir]);
  await onNode(n1!, ['sh', '-c', 'umount /usr/bin/qemu-img 2>/dev/null; true']);
  for (const f of specs.splice(0)) await qvd(['destroy', '-f', f, '--auto-approve', '--purge-homes']);
});
afterAll(async () => {
  expect(await managed()).toEqual([]);
});

describe('a killed apply is repaired by the next one', () => {
  for (const [point, pattern] of [
    ['after the image upload', /create image img-tiny--default\.qcow2 on n1: done/],
    ['after the volumes', /create volume vm-sf-b-home\.qcow2 on n1: done/],
    ['after a domain definition', /create domain qvd-sf-a on n1: done/],
  ] as const) {
    it(`SIGKILL ${point}: the next plan shows exactly the rest, the next apply converges`, async () => {
      const file = await spec({ vms: [...three] });
      const full = await planJson(file);
      const child = startQvd(['apply', '-f', file, '--auto-approve', '--parallelism', '1']);
      const done = collect(child, 300_000);
      await waitForOutput(child, pattern);
      child.kill('SIGKILL');
      const killed = await done;
      expect(killed.signal).toBe('SIGKILL');

      const rest = await planJson(file);
      expect(rest.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(rest.changes.length).toBeGreaterThan(0);
      expect(rest.changes.length).toBeLessThan(full.changes.length);
      // Nothing already done is planned again: the rest is a subset of the full plan, all creates.
      expect(rest.changes.every((c) => c.action === 'create')).toBe(true);

      const status = await qvd(['status', '-f', file]);
      expect(status.stdout).toMatch(/interrupted|lock: free/);

      // The dead apply's lock is taken over (same host, pid gone).
      const again = await qvd(['apply', '-f', file, '--auto-approve']);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect((await qvd(['plan', '-f', file, '--detailed-exitcode'])).code).toBe(0);
      expect((await domains(n1!)).sort()).toEqual(['qvd-sf-a', 'qvd-sf-b']);
      expect(await volumes(n1!)).toEqual(expect.arrayContaining(['vm-sf-a-root.qcow2', 'vm-sf-b-root.qcow2', 'vm-sf-a-home.qcow2', 'vm-sf-b-home.qcow2']));
      expect((await volumes(n1!)).filter((v) => !v.startsWith('img-') && !/^vm-sf-[ab]-(root|home)\.qcow2$/.test(v))).toEqual([]);
    });
  }
});

describe('an upload killed mid-transfer', () => {
  it('leaves a temporary file that a later apply removes once nobody writes to it, and only then', async () => {
    const file = await spec({ vms: [{ name: 'sf-a', node: 'n1' }] });
    expect((await qvd(['apply', '-f', file, '--auto-approve'])).code).toBe(0);
    // What verifiedUploads leaves when it dies during the transfer: part of the file under a temporary name.
    const stale = `.qvd-upload-${randomBytes(6).toString('hex')}-img-tiny--default.qcow2`;
    const busy = `.qvd-upload-${randomBytes(6).toString('hex')}-img-tiny--default.qcow2`;
    const dir = n1!.storageDir;
    try {
      await onNode(n1!, ['sh', '-c', `head -c 1048576 /dev/urandom >"$1/$2" && touch -d '20 minutes ago' "$1/$2" && head -c 4096 /dev/urandom >"$1/$3"`, 'sh', dir, stale, busy]);
      const plan = await planJson(file);
      expect(plan.changes).toEqual([expect.objectContaining({ kind: 'volume', action: 'delete', node: 'n1', volume: stale, role: 'leftover' })]);
      const applied = await qvd(['apply', '-f', file, '--auto-approve']);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      const files = (await onNode(n1!, ['ls', '-A', dir])).split('\n');
      expect(files).not.toContain(stale);
      // One still being written (an upload under way, its writer alive) is never touched.
      expect(files).toContain(busy);
      expect((await qvd(['plan', '-f', file, '--detailed-exitcode'])).code).toBe(0);
    } finally {
      await onNode(n1!, ['rm', '-f', '--', `${dir}/${stale}`, `${dir}/${busy}`]);
    }
  });
});

describe('the state lock', () => {
  it('makes a second apply fail naming the holder, or wait with --lock-timeout', async () => {
    const file = await spec({ vms: [...three] });
    const store = await openStore({ kind: 'sqlite', path: join(dirname(file), '.qvd', 'state.db') });
    const first = startQvd(['apply', '-f', file, '--auto-approve']);
    const firstDone = collect(first, 300_000);
    const pid = first.pid!;
    try {
      // Freeze the first apply while it holds the lock: the second then meets it however fast this machine is.
      for (let tries = 0; (await store.readLock())?.pid !== pid; tries++) {
        if (tries > 6000) throw new Error('the first apply never took the lock');
        await sleep(10);
      }
      process.kill(pid, 'SIGSTOP');
      const refused = await qvd(['apply', '-f', file, '--auto-approve', '--lock-timeout', '0s']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(new RegExp(`apply.*pid ${pid}`));
      let waited = false;
      const waiting = qvd(['apply', '-f', file, '--auto-approve', '--lock-timeout', '5m']).finally(() => {
        waited = true;
      });
      await sleep(3000);
      expect(waited).toBe(false);
      process.kill(pid, 'SIGCONT');
      expect((await firstDone).code).toBe(0);
      const second = await waiting;
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(second.stdout).toContain('No changes');
    } finally {
      if (first.exitCode === null) process.kill(pid, 'SIGCONT');
      await store.close();
    }
  });
});

describe('a node that is down', () => {
  it('fails its own changes clearly, lets the other node converge, and is finished by the next apply', async () => {
    const file = await spec({ vms: [...three] });
    await script('node-stop-sshd.sh', [n2!.name, n2!.stateDir]);
    const r = await qvd(['apply', '-f', file, '--auto-approve']);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/n2.*(ECONNREFUSED|refused|unreachable)/i);
    expect((await domains(n1!)).sort()).toEqual(['qvd-sf-a', 'qvd-sf-b']);
    await script('node-start-sshd.sh', [n2!.name, n2!.stateDir]);
    expect(await domains(n2!)).toEqual([]);
    const plan = await planJson(file);
    expect(plan.changes.filter((c) => c.node !== undefined).every((c) => c.node === 'n2')).toBe(true);
    const again = await qvd(['apply', '-f', file, '--auto-approve']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(await domains(n2!)).toEqual(['qvd-sf-c']);
    expect((await qvd(['plan', '-f', file, '--detailed-exitcode'])).code).toBe(0);
  });
});

describe('bad input is refused before any node is touched', () => {
  it('a wrong host key fingerprint', async () => {
    const file = await spec({ vms: [...three], fingerprint: { n2: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } });
    const plan = await qvd(['plan', '-f', file]);
    expect(plan.code).toBe(1);
    expect(plan.stdout + plan.stderr).toMatch(/n2.*host key/i);
    const apply = await qvd(['apply', '-f', file, '--auto-approve']);
    expect(apply.code).not.toBe(0);
    expect(apply.stderr).toContain('nothing was changed');
    expect(await managed()).toEqual([]);
  });

  it('an image that is not qcow2', async () => {
    const dir = (await spec({ vms: [] })).replace(/\/qvd\.yaml$/, '');
    const fake = join(dir, 'fake.qcow2');
    await writeFile(fake, 'this is not a disk image\n');
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update('this is not a disk image\n').digest('hex');
    const file = await spec({ vms: [...three], imageSource: fake, imageSha256: sha }, dir);
    for (const cmd of ['validate', 'plan', 'apply']) {
      const r = await qvd([cmd, '-f', file, ...(cmd === 'apply' ? ['--auto-approve'] : [])]);
      expect(r.code, cmd).toBe(3);
      expect(r.stderr).toMatch(/not a qcow2 image/);
      expect(r.stderr).toMatch(/qvd\.yaml:\d+:\d+/);
    }
    expect(await managed()).toEqual([]);
  });

  it('a node without qemu-img', async () => {
    const file = await spec({ vms: [...three] });
    // Hide qemu-img inside node n1 only (its own mount namespace).
    await onNode(n1!, ['sh', '-c', ': > /tmp/qvd-no-qemu-img && mount --bind /tmp/qvd-no-qemu-img /usr/bin/qemu-img']);
    const plan = await qvd(['plan', '-f', file]);
    expect(plan.code).toBe(1);
    expect(plan.stdout + plan.stderr).toMatch(/node n1: qemu-img is not installed/);
    const apply = await qvd(['apply', '-f', file, '--auto-approve']);
    expect(apply.code).toBe(3);
    expect(apply.stderr).toContain('nothing was changed');
    expect(await managed()).toEqual([]);
  });
});
