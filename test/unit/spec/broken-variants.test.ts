import { describe, expect, it } from 'vitest';
import { readSpecText } from '../../../src/spec/read-spec.js';
import { edit, EXAMPLE_FILE, exampleText, positionOf } from '../../fixtures/spec/example-spec.js';

interface Variant {
  readonly name: string;
  /** Text replacements applied in order to the example spec. */
  readonly edits: readonly (readonly [from: string, to: string])[];
  /** The diagnostic expected among the others. */
  readonly summary: RegExp;
  /** Where its range must start: occurrence `nth` of `needle` in the edited text, plus `offset`. */
  readonly at: { readonly needle: string; readonly nth?: number; readonly offset?: number };
}

const BOB_DESK = '  - name: bob-desk\n    user: bob\n    image: desktop\n';

const variants: readonly Variant[] = [
  { name: 'misspelt enum value', edits: [['power: running', 'power: runing']], summary: /^vms\[0\]\.power: must be one of on-demand, running, stopped \(got "runing"\) \(did you mean "running"\?\)$/, at: { needle: 'runing' } },
  { name: 'misspelt property', edits: [['address: 192.168.122.12', 'adress: 192.168.122.12']], summary: /^nodes\[1\]: unknown property "adress" \(did you mean "address"\?\)$/, at: { needle: 'adress' } },
  { name: 'unknown top-level section', edits: [['\nvms:\n', '\nvm:\n']], summary: /^top level: unknown property "vm" \(did you mean "vms"\?\)$/, at: { needle: '\nvm:', offset: 1 } },
  { name: 'wrong version', edits: [['version: 1', 'version: 2']], summary: /^version: must be 1 \(got 2\)$/, at: { needle: 'version: 2', offset: 9 } },
  { name: 'missing required property', edits: [['    address: 127.0.0.1\n', '']], summary: /^nodes\[0\]: missing required property "address"$/, at: { needle: 'name: node-a' } },
  { name: 'wrong type', edits: [['max_vms: 80', 'max_vms: eighty']], summary: /^nodes\[1\]\.capacity\.max_vms: must be a whole number \(found "eighty"\)$/, at: { needle: 'eighty' } },
  { name: 'malformed IP', edits: [['ip: 10.3.15.20', 'ip: 10.3.15.300']], summary: /^vms\[0\]\.ip: must be an IPv4 address/, at: { needle: '10.3.15.300' } },
  { name: 'malformed name', edits: [['name: alice-desk', 'name: Alice_Desk']], summary: /^vms\[0\]\.name: must be a name \(lowercase letter/, at: { needle: 'Alice_Desk' } },
  { name: 'malformed login', edits: [['login: bob ', 'login: "b o b" ']], summary: /^users\[1\]\.login: must be a login/, at: { needle: '"b o b"' } },
  { name: 'negative connection cap', edits: [['    port: 8443\n', '    port: 8443\n    max_connections_per_address: -5\n']], summary: /^settings\.l7r\.max_connections_per_address: must be at least 0 \(got -5\)$/, at: { needle: '-5' } },
  { name: 'malformed duration', edits: [['idle_stop: 1h', 'idle_stop: 1 hour']], summary: /^settings\.hkd\.idle_stop: must be a duration/, at: { needle: '1 hour' } },
  { name: 'malformed sha256', edits: [['"09f5e1bb35ea844e33d04f5d4ce0a6e9473a1c7038e430db05fa1d5d8a1fe1e4"', 'abc123']], summary: /^images\[0\]\.sha256: must be a SHA-256 digest/, at: { needle: 'abc123' } },
  { name: 'unsupported image format', edits: [['    memory_mb: 2048\n', '    memory_mb: 2048\n    format: raw\n']], summary: /^images\[0\]\.format: must be one of qcow2 \(got "raw"\)$/, at: { needle: 'raw\n' } },
  { name: 'malformed host key fingerprint', edits: [['      port: 22\n', '      port: 22\n      host_key_fingerprint: MD5:aa\n']], summary: /^nodes\[1\]\.ssh\.host_key_fingerprint: must be a host key fingerprint/, at: { needle: 'MD5:aa' } },
  { name: 'invalid label key', edits: [['rack: r1', '"my rack": r1']], summary: /^nodes\[0\]\.labels: invalid key "my rack"/, at: { needle: '"my rack"' } },
  { name: 'plaintext password field', edits: [['      hash: "$argon2id', '      plain: "$argon2id']], summary: /^users\[1\]\.password: unknown property "plain"$/, at: { needle: 'plain:' } },
  { name: 'two password sources', edits: [['      file: secrets/carol.password', '      file: secrets/carol.password\n      env: CAROL_PASSWORD']], summary: /^users\[2\]\.password: must set exactly one of hash, env, file$/, at: { needle: 'file: secrets/carol.password' } },
  { name: 'TLS key missing for a certificate file', edits: [['cert: generate ', 'cert: tls/l7r.pem ']], summary: /^settings\.l7r\.tls: missing required property "key"$/, at: { needle: 'cert: tls/l7r.pem' } },
  { name: 'TLS certificate file missing', edits: [['cert: generate ', 'cert: tls/missing.pem\n      key: tls/missing.key ']], summary: /^settings\.l7r\.tls\.cert: cannot read .*tls\/missing\.pem: no such file$/, at: { needle: 'tls/missing.pem' } },
  { name: 'duplicate key', edits: [['    power: stopped\n', '    power: stopped\n    power: running\n']], summary: /^YAML syntax error: duplicate key "power"$/, at: { needle: 'power: running', nth: 2 } },
  { name: 'tab indentation', edits: [['  - name: erin-desk\n', '  - name: erin-desk\n\t']], summary: /^YAML syntax error: Tabs are not allowed as indentation/, at: { needle: '\t' } },
  { name: 'unknown user', edits: [[BOB_DESK, BOB_DESK.replace('user: bob', 'user: bobby')]], summary: /^vms\[2\] "bob-desk": user "bobby" is not defined in users \(did you mean "bob"\?\)$/, at: { needle: 'bobby' } },
  { name: 'user without its tenant', edits: [['user: carol@sales', 'user: carol']], summary: /^vms\[3\] "carol-desk": user "carol" is not defined in users \(did you mean "carol@sales"\?\)$/, at: { needle: 'user: carol\n', offset: 6 } },
  { name: 'unknown image', edits: [['    image: desktop\n    node: node-b', '    image: desktp\n    node: node-b']], summary: /^vms\[3\] "carol-desk": image "desktp" is not defined in images \(did you mean "desktop"\?\)$/, at: { needle: 'desktp' } },
  { name: 'unknown image tag', edits: [['image: office:2024.1\n    power: on-demand', 'image: office:2023\n    power: on-demand']], summary: /^vms\[1\] "alice-office": image "office:2023" is not defined in images \(image "office" has the tag 2024\.1/, at: { needle: 'office:2023' } },
  { name: 'unknown node', edits: [['node: node-b', 'node: node-c']], summary: /^vms\[3\] "carol-desk": node "node-c" is not defined in nodes \(did you mean "node-[ab]"\?\)$/, at: { needle: 'node-c' } },
  { name: 'duplicate VM name', edits: [['name: erin-desk', 'name: bob-desk']], summary: /^vms\[5\]: VM name "bob-desk" is already defined by vms\[2\]$/, at: { needle: 'bob-desk', nth: 2 } },
  { name: 'duplicate node name', edits: [['name: node-b', 'name: node-a']], summary: /^nodes\[1\]: node name "node-a" is already defined by nodes\[0\]$/, at: { needle: 'name: node-a', nth: 2, offset: 6 } },
  { name: 'duplicate user in a tenant', edits: [['login: dave', 'login: carol']], summary: /^users\[3\]: user "carol@sales" is already defined by users\[2\]$/, at: { needle: 'login: carol', nth: 2, offset: 7 } },
  { name: 'duplicate image name:tag', edits: [['name: office', 'name: desktop'], ['tag: "2024.1"', 'tag: default']], summary: /^images\[1\]: image "desktop:default" is already defined by images\[0\]$/, at: { needle: 'name: desktop', nth: 2, offset: 6 } },
  { name: 'duplicate VM IP', edits: [[BOB_DESK, `${BOB_DESK}    ip: 10.3.15.20\n`]], summary: /^vms\[2\] "bob-desk": ip 10\.3\.15\.20 is already given to vms\[0\] "alice-desk"$/, at: { needle: 'ip: 10.3.15.20', nth: 2, offset: 4 } },
  { name: 'IP outside the network', edits: [['ip: 10.3.15.20', 'ip: 10.9.9.9']], summary: /^vms\[0\] "alice-desk": ip 10\.9\.9\.9 is outside the VM network 10\.3\.15\.0\/24$/, at: { needle: '10.9.9.9' } },
  { name: 'IP is the gateway', edits: [['ip: 10.3.15.20', 'ip: 10.3.15.1']], summary: /^vms\[0\] "alice-desk": ip 10\.3\.15\.1 is the gateway of 10\.3\.15\.0\/24$/, at: { needle: 'ip: 10.3.15.1', offset: 4 } },
  { name: 'IP is the broadcast address', edits: [['ip: 10.3.15.20', 'ip: 10.3.15.255']], summary: /is the broadcast address of 10\.3\.15\.0\/24$/, at: { needle: '10.3.15.255' } },
  { name: 'gateway outside the network', edits: [['gateway: 10.3.15.1', 'gateway: 10.3.16.1']], summary: /^settings\.network\.gateway: 10\.3\.16\.1 is not a host address of 10\.3\.15\.0\/24$/, at: { needle: '10.3.16.1' } },
  { name: 'reversed DHCP range', edits: [['start: 10.3.15.100', 'start: 10.3.15.250'], ['end: 10.3.15.250', 'end: 10.3.15.100']], summary: /^settings\.network\.dhcp_range: start 10\.3\.15\.250 is after end 10\.3\.15\.100$/, at: { needle: 'start: 10.3.15.250' } },
  { name: 'DHCP range outside the network', edits: [['end: 10.3.15.250', 'end: 10.3.16.250']], summary: /^settings\.network\.dhcp_range\.end: 10\.3\.16\.250 is not a host address/, at: { needle: '10.3.16.250' } },
  { name: 'network too small', edits: [['cidr: 10.3.15.0/24', 'cidr: 10.3.15.0/31']], summary: /^settings\.network\.cidr: 10\.3\.15\.0\/31 has no room for VMs$/, at: { needle: '10.3.15.0/31' } },
  { name: 'DHCP range exhausted', edits: [['end: 10.3.15.250', 'end: 10.3.15.101']], summary: /^vms\[3\] "carol-desk": no free address left in dhcp_range 10\.3\.15\.100-10\.3\.15\.101 \(2 addresses\)$/, at: { needle: 'name: carol-desk' } },
  { name: 'more fixed VMs than max_vms', edits: [['max_vms: 50', 'max_vms: 0']], summary: /^nodes\[0\] "node-a": 1 VM is fixed on it but max_vms is 0$/, at: { needle: 'max_vms: 0', offset: 9 } },
  {
    name: 'running fixed VMs exceed memory',
    edits: [
      ['memory_mb: 16384', 'memory_mb: 3000'],
      ['image: office:2024.1\n    power: on-demand', 'image: office:2024.1\n    power: running\n    node: node-a'],
    ],
    summary: /^nodes\[0\] "node-a": the running VMs fixed on it need 3072 MiB but memory_mb is 3000$/,
    at: { needle: 'memory_mb: 3000', offset: 11 },
  },
  { name: 'image wider than every node', edits: [['    vcpus: 2\n', '    vcpus: 32\n']], summary: /^images\[0\] "desktop:default": needs 32 vcpus but no node allows more than 16$/, at: { needle: 'vcpus: 32', offset: 7 } },
  { name: 'fixed VM wider than its node', edits: [['    vcpus: 2\n', '    vcpus: 12\n']], summary: /^vms\[0\] "alice-desk": image "desktop:default" needs 12 vcpus but node "node-a" allows 8$/, at: { needle: 'node: node-a', offset: 6 } },
  { name: 'no node has room', edits: [['max_vms: 80', 'max_vms: 1'], ['max_vms: 50', 'max_vms: 2']], summary: /^vms\[4\] "dave-office": no node can take it: every node that could run it is at max_vms$/, at: { needle: 'name: dave-office' } },
  { name: 'node_lost not longer than heartbeat', edits: [['node_lost: 10m', 'node_lost: 2m']], summary: /^settings\.hkd: node_lost \(120s\) must be longer than heartbeat \(120s\)$/, at: { needle: 'node_lost: 2m', offset: 11 } },
  { name: 'zero heartbeat', edits: [['heartbeat: 120s', 'heartbeat: 0']], summary: /^settings\.hkd\.heartbeat: must be at least 1s$/, at: { needle: 'heartbeat: 0', offset: 11 } },
  { name: 'L7R port is the SSH port', edits: [['port: 8443', 'port: 22']], summary: /^settings\.l7r\.port: 22 is the SSH port of node "node-b"$/, at: { needle: 'port: 22', offset: 6 } },
  { name: 'password variable unset', edits: [['file: secrets/carol.password', 'env: QVD_TEST_UNSET_VAR']], summary: /^users\[2\] "carol@sales": the environment variable QVD_TEST_UNSET_VAR is not set$/, at: { needle: 'QVD_TEST_UNSET_VAR' } },
  { name: 'password file missing', edits: [['file: secrets/carol.password', 'file: secrets/nope.password']], summary: /^users\[2\] "carol@sales": cannot read the password file .*secrets\/nope\.password: no such file$/, at: { needle: 'secrets/nope.password' } },
  { name: 'database URL variable unset', edits: [['sqlite: .qvd/state.db', 'postgres: {url_env: QVD_TEST_DB_URL}']], summary: /^settings\.database\.postgres\.url_env: the environment variable QVD_TEST_DB_URL is not set$/, at: { needle: 'QVD_TEST_DB_URL' } },
];

describe('broken variants of the example spec', () => {
  it('the example itself is valid', async () => {
    const result = await readSpecText(exampleText(), EXAMPLE_FILE, { checkFiles: false, env: {} });
    expect(result.diagnostics).toEqual([]);
    expect(result.desired?.vms).toHaveLength(6);
  });

  it.each(variants)('$name', async (variant) => {
    let text = exampleText();
    for (const [from, to] of variant.edits) text = edit(text, from, to);
    const result = await readSpecText(text, EXAMPLE_FILE, { checkFiles: false, env: {} });
    const summaries = result.diagnostics.map((d) => `${d.severity}: ${d.summary}`);
    const found = result.diagnostics.find((d) => variant.summary.test(d.summary));
    expect(found, `no diagnostic matches ${String(variant.summary)}; got:\n${summaries.join('\n')}`).toBeDefined();
    expect(found?.severity).toBe('error');
    expect(result.desired).toBeUndefined();
    const expected = positionOf(text, variant.at.needle, variant.at.nth, variant.at.offset);
    expect({ file: found?.range?.file, line: found?.range?.line, column: found?.range?.column }).toEqual({ file: EXAMPLE_FILE, ...expected });
    expect(found?.excerpt?.split('\n')).toHaveLength(2);
  });

  it('has at least 25 variants', () => {
    expect(variants.length).toBeGreaterThanOrEqual(25);
  });
});
