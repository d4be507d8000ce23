import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeError } from '../../../src/errors.js';
import { CommandFailedError } from '../../../src/drivers/exec/command-failed-error.js';
import { LocalRunner } from '../../../src/drivers/exec/local-runner.js';
import { SshRunner } from '../../../src/drivers/exec/ssh/ssh-runner.js';
import { verifiedUpload } from '../../../src/drivers/exec/verified-upload.js';
import { keygen, startSshServer, type TestSshServer } from '../../support/ssh-server.js';

const nasty = ["it's", '$(touch /tmp/qvd-pwned)', '`id`', 'a;b', '*', 'new\nline', '"q"', '\\', '', ' lead', 'ünï', '-n'];

describe('SshRunner against a real sshd', () => {
  let server: TestSshServer;
  let runner: SshRunner;
  let work: string;
  const extraRunners: SshRunner[] = [];

  const make = (overrides: Partial<ConstructorParameters<typeof SshRunner>[0]> = {}): SshRunner => {
    const r = new SshRunner({ node: 'n1', host: '127.0.0.1', port: server.port, user: 'root', privateKey: server.privateKey, hostKeyFingerprint: server.hostKeyFingerprint, ...overrides });
    extraRunners.push(r);
    return r;
  };

  beforeAll(async () => {
    server = await startSshServer();
    runner = new SshRunner({ node: 'n1', host: '127.0.0.1', port: server.port, user: 'root', privateKey: server.privateKey, hostKeyFingerprint: server.hostKeyFingerprint });
    work = mkdtempSync(join(tmpdir(), 'qvd-ssh-runner-'));
  });

  afterAll(async () => {
    await runner?.close();
    for (const r of extraRunners) await r.close();
    await server?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('runs a command and returns stdout, stderr and exit code', async () => {
    const result = await runner.run(['sh', '-c', 'echo out; echo err >&2']);
    expect(result).toEqual({ stdout: 'out\n', stderr: 'err\n', exitCode: 0 });
    const verified = await runner.connect();
    expect(verified.hostKey.fingerprint).toBe(server.hostKeyFingerprint);
    expect(verified.trustedOnFirstUse).toBe(false);
  });

  it('throws CommandFailedError with exit code and stderr, unless the code is accepted', async () => {
    const error = await runner.run(['sh', '-c', 'echo boom >&2; exit 7']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandFailedError);
    expect(error).toBeInstanceOf(NodeError);
    expect((error as CommandFailedError).commandExitCode).toBe(7);
    expect((error as CommandFailedError).stderr).toBe('boom\n');
    expect((error as Error).message).toMatch(/exited with code 7: boom/);
    const accepted = await runner.run(['sh', '-c', 'exit 7'], { okExitCodes: [0, 7] });
    expect(accepted.exitCode).toBe(7);
  });

  it('passes every argument through the remote shell unchanged', async () => {
    const result = await runner.run(['printf', '%s\\0', ...nasty]);
    expect(result.stdout.split('\0').slice(0, -1)).toEqual(nasty);
    expect(existsSync('/tmp/qvd-pwned')).toBe(false);
  });

  it('feeds stdin and runs scripts with arguments', async () => {
    expect((await runner.run(['cat'], { stdin: 'hello\n' })).stdout).toBe('hello\n');
    const script = 'echo "args: $#"; for a in "$@"; do printf "[%s]" "$a"; done; echo; read -r line || echo "stdin is empty"';
    const result = await runner.runScript(script, { args: ['a b', "c'd"] });
    expect(result.stdout).toBe("args: 2\n[a b][c'd]\nstdin is empty\n");
  });

  it('runs in the C locale', async () => {
    expect((await runner.run(['sh', '-c', 'echo $LC_ALL'])).stdout).toBe('C\n');
  });

  it('kills a command that exceeds its timeout, on the node too', async () => {
    const marker = `${1000 + Math.floor(Math.random() * 1000)}.${Date.now() % 1000}`;
    const started = Date.now();
    const error = await runner.run(['sleep', marker], { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error).toBeInstanceOf(CommandFailedError);
    expect((error as Error).message).toMatch(/timed out after 500 ms/);
    await new Promise((r) => setTimeout(r, 300));
    const still = execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).split('\n').filter((l) => l === `sleep ${marker}`);
    expect(still).toEqual([]);
  });

  it('shares one connection between concurrent commands', async () => {
    const before = server.connections();
    const r = make();
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => r.run(['echo', String(i)])));
    expect(results.map((x) => x.stdout.trim())).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
    expect(server.connections()).toBe(before + 1);
  });

  it('reconnects once when the connection dropped', async () => {
    const r = make();
    expect((await r.run(['echo', 'one'])).stdout).toBe('one\n');
    await server.restart();
    expect((await r.run(['echo', 'two'])).stdout).toBe('two\n');
  });

  it('prepare() opens the connection ahead, with the host key checked; the first command uses it', async () => {
    const r = make();
    r.prepare();
    const verified = await r.connect();
    expect(verified.hostKey.fingerprint).toBe(server.hostKeyFingerprint);
    expect((await r.run(['echo', 'ahead'])).stdout).toBe('ahead\n');
    // A refused host key is the first command's error, as without prepare().
    const wrong = make({ hostKeyFingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    wrong.prepare();
    await expect(wrong.run(['true'])).rejects.toThrow(/host key mismatch/);
  });

  it('close() right after prepare() hangs up a handshake still waiting for the node', async () => {
    let hungUp: Promise<void> | undefined;
    const silent = createServer((socket) => {
      hungUp = new Promise((resolve) => socket.on('close', () => resolve()));
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const port = (silent.address() as AddressInfo).port;
    try {
      const r = make({ port, connectTimeoutMs: 600_000 });
      r.prepare();
      while (hungUp === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
      // Without the hang-up, close() would wait for the handshake to time out (10 minutes here).
      await r.close();
      await hungUp;
      await expect(r.run(['true'])).rejects.toThrow(/closed/);
    } finally {
      silent.close();
    }
  });

  it('refuses a wrong host key, showing both fingerprints and how to fix it', async () => {
    const wrong = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const error = await make({ hostKeyFingerprint: wrong }).run(['true']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeError);
    const message = (error as NodeError).message;
    expect(message).toContain(wrong);
    expect(message).toContain(server.hostKeyFingerprint);
    expect((error as NodeError).hint).toMatch(/host_key_fingerprint/);
  });

  it('refuses an unknown host key without trustOnFirstUse, accepts and reports it with', async () => {
    const refused = await make({ hostKeyFingerprint: undefined }).run(['true']).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NodeError);
    expect((refused as Error).message).toMatch(/no host key fingerprint/);
    expect((refused as Error).message).toContain(server.hostKeyFingerprint);
    const tofu = make({ hostKeyFingerprint: undefined, trustOnFirstUse: true });
    await tofu.run(['true']);
    expect(tofu.verifiedHost).toMatchObject({ trustedOnFirstUse: true, hostKey: { fingerprint: server.hostKeyFingerprint, type: 'ssh-ed25519' } });
  });

  it('accepts a fingerprint written without the SHA256: prefix or with padding', async () => {
    const bare = `${server.hostKeyFingerprint.slice('SHA256:'.length)}=`;
    expect((await make({ hostKeyFingerprint: bare }).run(['echo', 'ok'])).stdout).toBe('ok\n');
  });

  it('says clearly when authentication fails', async () => {
    const other = join(work, 'other-key');
    keygen(other);
    const error = await make({ privateKey: readFileSync(other, 'utf8'), keySource: other }).run(['true']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeError);
    expect((error as Error).message).toMatch(/authentication as root .* failed \(key: .*other-key\)/);
    expect((error as NodeError).hint).toMatch(/authorized_keys/);
  });

  it('says clearly when the connection is refused', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const port = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(port));
      });
    });
    const error = await make({ port: closedPort }).run(['true']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeError);
    expect((error as Error).message).toMatch(/refused/);
    expect((error as NodeError).hint).toMatch(/sshd running/);
  });

  it('says clearly when the connection times out', async () => {
    // A listener that accepts but never speaks SSH: the handshake cannot finish.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const port = (silent.address() as AddressInfo).port;
    try {
      const error = await make({ port, connectTimeoutMs: 800 }).run(['true']).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NodeError);
      expect((error as Error).message).toMatch(/timed out/);
    } finally {
      silent.close();
    }
  });

  describe('verified upload', () => {
    let dir: string;
    let file: string;
    let sha256: string;

    beforeAll(() => {
      dir = mkdtempSync('/var/tmp/qvd-upload-');
      file = join(work, 'image.bin');
      const data = randomBytes(3 * 1024 * 1024 + 17);
      writeFileSync(file, data);
      sha256 = createHash('sha256').update(data).digest('hex');
    });

    afterAll(() => {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('uploads to a temporary name, verifies on the node, renames and writes the sidecar', async () => {
      const progress: number[] = [];
      const target = join(dir, 'base.qcow2');
      const outcome = await verifiedUpload(runner, { localPath: file, remotePath: target, sha256, onProgress: (sent) => progress.push(sent) });
      expect(outcome).toBe('uploaded');
      expect(createHash('sha256').update(readFileSync(target)).digest('hex')).toBe(sha256);
      expect(readFileSync(`${target}.sha256`, 'utf8')).toBe(`${sha256}  base.qcow2\n`);
      expect(progress.at(-1)).toBe(3 * 1024 * 1024 + 17);
      expect(execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).split('\n').filter(Boolean).sort()).toEqual(['base.qcow2', 'base.qcow2.sha256']);
    });

    it('skips the transfer when the sidecar already has the checksum', async () => {
      const target = join(dir, 'base.qcow2');
      let sent = 0;
      const outcome = await verifiedUpload(runner, { localPath: file, remotePath: target, sha256, onProgress: () => { sent++; } });
      expect(outcome).toBe('already-present');
      expect(sent).toBe(0);
    });

    it('re-hashes a file without sidecar instead of uploading it again', async () => {
      const target = join(dir, 'base.qcow2');
      rmSync(`${target}.sha256`);
      expect(await verifiedUpload(runner, { localPath: file, remotePath: target, sha256 })).toBe('already-present');
      expect(readFileSync(`${target}.sha256`, 'utf8')).toBe(`${sha256}  base.qcow2\n`);
    });

    it('refuses a file whose checksum does not match and leaves nothing behind', async () => {
      const target = join(dir, 'other.qcow2');
      const error = await verifiedUpload(runner, { localPath: file, remotePath: target, sha256: '0'.repeat(64) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NodeError);
      expect((error as Error).message).toMatch(new RegExp(`expected sha256 0{64}, the node computed ${sha256}`));
      expect(existsSync(target)).toBe(false);
      expect(execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).split('\n').filter(Boolean).sort()).toEqual(['base.qcow2', 'base.qcow2.sha256']);
    });

    it('works the same through the local runner', async () => {
      const local = new LocalRunner('local');
      const target = join(dir, 'local.qcow2');
      expect(await verifiedUpload(local, { localPath: file, remotePath: target, sha256 })).toBe('uploaded');
      expect(await verifiedUpload(local, { localPath: file, remotePath: target, sha256 })).toBe('already-present');
      expect(readFileSync(`${target}.sha256`, 'utf8')).toBe(`${sha256}  local.qcow2\n`);
    });
  });
});
