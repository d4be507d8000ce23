import { describe, expect, it } from 'vitest';
import { resolve, type ResolveContext } from '../../../src/spec/resolve.js';
import { qvdSha256, verifyPassword } from '../../../src/spec/password-hash.js';
import type { SpecDocument } from '../../../src/spec/spec-document.js';
import type { StoreSnapshot, VmRecord } from '../../../src/state/store.js';

const files: Record<string, string> = {
  '/spec/secrets/pw': 'from-a-file\n',
  '/spec/secrets/hash': `${qvdSha256('x')}\n`,
  '/spec/secrets/empty': '\n',
  '/spec/tls/cert.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  '/spec/tls/key.pem': '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n',
  '/spec/tls/not-a-cert.pem': 'hello\n',
};

function context(env: NodeJS.ProcessEnv = {}, specText = 'spec text'): ResolveContext {
  return {
    specDir: '/spec',
    specText,
    env,
    readFile: (path) => {
      const content = files[path];
      if (content === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return content;
    },
  };
}

function minimal(extra: Partial<SpecDocument> = {}): SpecDocument {
  return {
    version: 1,
    nodes: [{ name: 'n1', address: '10.0.0.1', local: true }],
    images: [{ name: 'desk', source: 'images/desk.qcow2', sha256: 'A'.repeat(64) }],
    users: [{ login: 'alice', password: { hash: qvdSha256('secret') } }],
    vms: [{ name: 'v1', user: 'alice', image: 'desk' }],
    ...extra,
  };
}

const record = (name: string, node: string, ip: string): VmRecord => ({
  name,
  user: 'alice',
  image: 'desk:default',
  node,
  nodePinned: false,
  ip,
  mac: '',
  power: 'on-demand',
  persistent: false,
  blocked: false,
  properties: {},
});

const snapshot = (vms: VmRecord[]): StoreSnapshot => ({ serial: 1, users: [], vms, nodes: [], images: [] });

describe('resolve', () => {
  it('fills every default', async () => {
    const { desired, diagnostics } = await resolve(minimal(), undefined, context());
    expect(diagnostics).toEqual([]);
    expect(desired?.settings).toEqual({
      l7r: { address: '0.0.0.0', port: 8443, maxConnections: 10_000, maxConnectionsPerAddress: 1_000, tls: { generate: true } },
      network: { name: 'qvd', bridge: 'qvdbr0', cidr: '10.3.15.0/24', gateway: '10.3.15.1', prefix: 24, dhcpStart: '10.3.15.100', dhcpEnd: '10.3.15.250' },
      hkd: { startTimeout: 270, stopTimeout: 180, idleStop: 3600, heartbeat: 120, nodeLost: 600, maxParallelOps: 10, vmaPing: 120, vmaMaxFailures: 10, vmaDeadAfter: 320 },
      database: { kind: 'sqlite', path: '/spec/.qvd/state.db' },
      auth: { builtin: true, tokenTtl: 86400 },
    });
    expect(desired?.nodes[0]).toEqual({
      name: 'n1',
      address: '10.0.0.1',
      local: true,
      ssh: { user: 'root', port: 22 },
      libvirtUri: 'qemu:///system',
      capacity: { memoryMb: 16384, vcpus: 8, maxVms: 50 },
      storageDir: '/var/lib/qvd/storage',
      blocked: false,
      labels: {},
    });
    expect(desired?.images[0]).toEqual({
      key: 'desk:default',
      name: 'desk',
      tag: 'default',
      source: '/spec/images/desk.qcow2',
      sha256: 'a'.repeat(64),
      format: 'qcow2',
      memoryMb: 1024,
      vcpus: 1,
      homeSizeMb: 1024,
      application: false,
      vma: false,
    });
    expect(desired?.users[0]).toMatchObject({ key: 'alice', login: 'alice', tenant: 'default', blocked: false, properties: {} });
    expect(desired?.vms[0]).toEqual({
      name: 'v1',
      user: 'alice',
      image: 'desk:default',
      node: 'n1',
      nodePinned: false,
      ip: '10.3.15.100',
      mac: '54:52:00:03:0f:64',
      power: 'on-demand',
      persistent: false,
      blocked: false,
      properties: {},
    });
  });

  it('converts durations, paths, TLS files, LDAP and remote nodes', async () => {
    const document = minimal({
      settings: {
        l7r: { max_connections: 50, max_connections_per_address: 0, tls: { cert: 'tls/cert.pem', key: '/spec/tls/key.pem' } },
        hkd: { idle_stop: '1h30m', heartbeat: 45, node_lost: '10m', start_timeout: '1d' },
        auth: { token_ttl: '2h', ldap: { url: 'ldaps://ldap.example.com', base_dn: 'ou=people,dc=example,dc=com' } },
        database: { postgres: { url_env: 'DB_URL' } },
      },
      nodes: [
        { name: 'n1', address: 'node1.example.com', ssh: { user: 'qvd', port: 2222, private_key: 'keys/id' } },
        { name: 'n2', address: 'fd00::2' },
      ],
      images: [{ name: 'desk', tag: 'v2', source: '/abs/desk.qcow2', sha256: 'b'.repeat(64), boot: { kernel: 'k/vmlinuz', initrd: 'k/initrd' } }],
      vms: [{ name: 'v1', user: 'alice', image: 'desk:v2', node: 'n2', ip: '10.3.15.7', power: 'running', persistent: true, properties: { a: 'b' } }],
    });
    const { desired, diagnostics } = await resolve(document, undefined, context({ DB_URL: 'postgres://x' }));
    expect(diagnostics).toEqual([]);
    expect(desired?.settings.l7r).toEqual({
      address: '0.0.0.0',
      port: 8443,
      maxConnections: 50,
      maxConnectionsPerAddress: 0,
      tls: { generate: false, cert: '/spec/tls/cert.pem', key: '/spec/tls/key.pem' },
    });
    expect(desired?.settings.hkd).toMatchObject({ idleStop: 5400, heartbeat: 45, nodeLost: 600, startTimeout: 86400 });
    expect(desired?.settings.auth).toEqual({
      builtin: true,
      tokenTtl: 7200,
      ldap: { url: 'ldaps://ldap.example.com', baseDn: 'ou=people,dc=example,dc=com', userFilter: '(uid=%u)', bindDnTemplate: 'uid=%u,ou=people,dc=example,dc=com' },
    });
    expect(desired?.settings.database).toEqual({ kind: 'postgres', urlEnv: 'DB_URL' });
    expect(desired?.nodes[0]?.libvirtUri).toBe('qemu+libssh://qvd@node1.example.com:2222/system?sshauth=privkey&keyfile=%2Fspec%2Fkeys%2Fid');
    expect(desired?.nodes[0]?.ssh).toEqual({ user: 'qvd', port: 2222, privateKey: '/spec/keys/id' });
    expect(desired?.nodes[1]?.libvirtUri).toBe('qemu+libssh://root@[fd00::2]:22/system?sshauth=agent');
    expect(desired?.images[0]?.boot).toEqual({ kernel: '/spec/k/vmlinuz', initrd: '/spec/k/initrd', cmdline: 'console=ttyS0' });
    expect(desired?.images[0]?.vma).toBe(true);
    expect(desired?.vms[0]).toMatchObject({ node: 'n2', nodePinned: true, ip: '10.3.15.7', mac: '54:52:00:03:0f:07', power: 'running', persistent: true, properties: { a: 'b' } });
  });

  it('defaults the DHCP range of a small network to the host addresses after the gateway', async () => {
    const { desired } = await resolve(minimal({ settings: { network: { cidr: '192.168.50.64/27' } } }), undefined, context());
    expect(desired?.settings.network).toMatchObject({ cidr: '192.168.50.64/27', gateway: '192.168.50.65', dhcpStart: '192.168.50.66', dhcpEnd: '192.168.50.94' });
  });

  it('hashes the spec text together with secrets from outside it', async () => {
    const document = minimal({ users: [{ login: 'alice', password: { env: 'ALICE_PW' } }] });
    const a = await resolve(document, undefined, context({ ALICE_PW: 'one' }));
    const again = await resolve(document, undefined, context({ ALICE_PW: 'one' }));
    const changed = await resolve(document, undefined, context({ ALICE_PW: 'two' }));
    const otherText = await resolve(document, undefined, context({ ALICE_PW: 'one' }, 'other text'));
    expect(a.desired?.specHash).toMatch(/^[0-9a-f]{64}$/);
    expect(again.desired?.specHash).toBe(a.desired?.specHash);
    expect(changed.desired?.specHash).not.toBe(a.desired?.specHash);
    expect(otherText.desired?.specHash).not.toBe(a.desired?.specHash);
  });

  it('hashes plaintext passwords from env and files with argon2id, stably; takes hashes as they are', async () => {
    const document = minimal({
      users: [
        { login: 'alice', password: { env: 'ALICE_PW' } },
        { login: 'bob', tenant: 'sales', password: { file: 'secrets/pw' } },
        { login: 'carol', password: { file: 'secrets/hash' } },
        { login: 'dave', password: { env: 'DAVE_HASH' } },
      ],
    });
    const env = { ALICE_PW: 'pw-alice', DAVE_HASH: qvdSha256('d') };
    const first = await resolve(document, undefined, context(env));
    const second = await resolve(document, undefined, context(env));
    expect(first.diagnostics).toEqual([]);
    const [alice, bob, carol, dave] = first.desired?.users ?? [];
    expect(alice?.passwordHash).toMatch(/^\$argon2id\$/);
    expect(await verifyPassword(alice?.passwordHash ?? '', 'pw-alice')).toBe(true);
    expect(await verifyPassword(bob?.passwordHash ?? '', 'from-a-file')).toBe(true);
    expect(bob?.key).toBe('bob@sales');
    expect(carol?.passwordHash).toBe(qvdSha256('x'));
    expect(dave?.passwordHash).toBe(qvdSha256('d'));
    expect(second.desired?.users.map((u) => u.passwordHash)).toEqual(first.desired?.users.map((u) => u.passwordHash));
  });

  it('rejects empty, missing and malformed secrets', async () => {
    const document = minimal({
      users: [
        { login: 'a', password: { env: 'EMPTY' } },
        { login: 'b', password: { file: 'secrets/empty' } },
        { login: 'c', password: { env: 'BAD_HASH' } },
        { login: 'd', password: { file: 'secrets/absent' } },
        { login: 'e', password: { env: 'UNSET' } },
      ],
      vms: [],
    });
    const { desired, diagnostics } = await resolve(document, undefined, context({ EMPTY: '', BAD_HASH: '$argon2id$nope' }));
    expect(desired).toBeUndefined();
    expect(diagnostics.map((d) => [d.path, d.summary])).toEqual([
      [['users', 0, 'password', 'env'], 'users[0] "a": the password in EMPTY is empty'],
      [['users', 1, 'password', 'file'], 'users[1] "b": the password file is empty'],
      [['users', 2, 'password', 'env'], 'users[2] "c": the password in BAD_HASH looks like a hash but is not a valid one'],
      [['users', 3, 'password', 'file'], 'users[3] "d": cannot read the password file /spec/secrets/absent: no such file'],
      [['users', 4, 'password', 'env'], 'users[4] "e": the environment variable UNSET is not set'],
    ]);
  });

  it('rejects a TLS file that is not PEM', async () => {
    const { diagnostics } = await resolve(minimal({ settings: { l7r: { tls: { cert: 'tls/not-a-cert.pem', key: 'tls/key.pem' } } } }), undefined, context());
    expect(diagnostics.map((d) => d.summary)).toEqual(['settings.l7r.tls.cert: /spec/tls/not-a-cert.pem is not a PEM certificate']);
  });

  it('keeps nodes and addresses from the snapshot; the spec wins where it says otherwise', async () => {
    const document = minimal({
      nodes: [
        { name: 'n1', address: '10.0.0.1' },
        { name: 'n2', address: '10.0.0.2' },
      ],
      vms: [
        { name: 'v1', user: 'alice', image: 'desk' },
        { name: 'v2', user: 'alice', image: 'desk', node: 'n1', ip: '10.3.15.150' },
        { name: 'v3', user: 'alice', image: 'desk' },
      ],
    });
    const previous = snapshot([record('v1', 'n2', '10.3.15.200'), record('v2', 'n2', '10.3.15.201'), record('v3', 'gone', '10.3.15.150')]);
    const { desired } = await resolve(document, previous, context());
    expect(desired?.vms.map((v) => [v.name, v.node, v.ip])).toEqual([
      ['v1', 'n2', '10.3.15.200'],
      ['v2', 'n1', '10.3.15.150'],
      ['v3', expect.stringMatching(/^n[12]$/), '10.3.15.100'],
    ]);
  });

  it('warns about a VM fixed on a blocked node but still resolves', async () => {
    const { desired, diagnostics } = await resolve(
      minimal({ nodes: [{ name: 'n1', address: '10.0.0.1', blocked: true }, { name: 'n2', address: '10.0.0.2' }], vms: [{ name: 'v1', user: 'alice', image: 'desk', node: 'n1' }] }),
      undefined,
      context(),
    );
    expect(diagnostics.map((d) => [d.severity, d.summary])).toEqual([['warning', 'vms[0] "v1": it is fixed on node "n1", which is blocked']]);
    expect(desired?.vms[0]?.node).toBe('n1');
  });

  it('warns about settings that are odd but not wrong', async () => {
    const { diagnostics } = await resolve(
      minimal({ settings: { l7r: { port: 16509 }, network: { cidr: '10.3.15.9/24' }, auth: { builtin: false } }, nodes: [{ name: 'n1', address: 'h' }, { name: 'n2', address: 'h' }] }),
      undefined,
      context(),
    );
    expect(diagnostics.map((d) => `${d.severity}: ${d.summary}`).sort()).toEqual([
      'warning: nodes[1] "n2": address h is also the address of nodes[0] "n1"',
      "warning: settings.auth: builtin is false and no ldap is set: nobody can log in",
      "warning: settings.l7r.port: 16509 is libvirtd's TCP listener on the nodes",
      'warning: settings.network.cidr: 10.3.15.9/24 has host bits set; it means 10.3.15.0/24',
    ]);
  });

  it('reports every unknown reference in bulk (suggestions are capped)', async () => {
    const vms = Array.from({ length: 5000 }, (_, i) => ({ name: `v${i}`, user: `nobody-${i}`, image: 'desk' }));
    const users = Array.from({ length: 2000 }, (_, i) => ({ login: `user-${i}`, password: { hash: qvdSha256('x') } }));
    const { diagnostics } = await resolve(minimal({ users, vms, settings: { network: { cidr: '10.16.0.0/16' } } }), undefined, context());
    expect(diagnostics).toHaveLength(5000);
  });
});
