import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NodeError } from '../errors.js';
import type { DesiredNode } from '../spec/desired-state.js';
import { LocalRunner } from './exec/local-runner.js';
import { knownHostsLine } from './exec/ssh/host-key.js';
import { resolvePrivateKey, type ResolvedKey } from './exec/ssh/private-key.js';
import { SshRunner } from './exec/ssh/ssh-runner.js';
import { BindingDomainApi } from './libvirt/binding-domain-api.js';
import { LibvirtNodeDriver } from './libvirt/libvirt-node-driver.js';
import { nodeLocalUri, remoteLibvirtUri } from './libvirt/libvirt-uri.js';
import type { DriverFactory, NodeDriver } from './node-driver.js';
import { UnavailableNodeDriver } from './unavailable-node-driver.js';

export interface DriverFactoryOptions {
  /** Accept (and report in the facts) the host key of nodes whose spec has no fingerprint. */
  readonly trustOnFirstUse?: boolean;
  /** Scratch directory for per-node known_hosts files (and inline keys) handed to libvirt. */
  readonly workDir: string;
}

/** The real drivers: LocalRunner for `local: true` nodes, one pooled SSH connection otherwise. */
export function createDriverFactory(options: DriverFactoryOptions): DriverFactory {
  return {
    forNode(node: DesiredNode): NodeDriver {
      try {
        return node.local ? localDriver(node) : remoteDriver(node, options);
      } catch (error) {
        return new UnavailableNodeDriver(node.name, error instanceof Error ? error : new Error(String(error)));
      }
    },
  };
}

function localDriver(node: DesiredNode): NodeDriver {
  const uri = nodeLocalUri(node.libvirtUri || 'qemu:///system');
  return new LibvirtNodeDriver({
    node: node.name,
    runner: new LocalRunner(node.name),
    domains: new BindingDomainApi(node.name, () => Promise.resolve(uri)),
    nodeLibvirtUri: uri,
  });
}

function remoteDriver(node: DesiredNode, options: DriverFactoryOptions): NodeDriver {
  const key = resolvePrivateKey(node.name, node.ssh.privateKey);
  const runner = new SshRunner({
    node: node.name,
    host: node.address,
    port: node.ssh.port,
    user: node.ssh.user,
    ...(key.kind === 'agent' ? { agent: key.socket } : { privateKey: key.text }),
    keySource: key.kind === 'file' ? key.path : key.kind === 'inline' ? 'the inline key in the spec' : `ssh-agent (${key.socket})`,
    ...(node.ssh.hostKeyFingerprint === undefined ? {} : { hostKeyFingerprint: node.ssh.hostKeyFingerprint }),
    trustOnFirstUse: options.trustOnFirstUse === true,
  });
  const localUri = nodeLocalUri(node.libvirtUri || 'qemu:///system');
  const domains = new BindingDomainApi(node.name, async () => {
    // libvirt checks the host key itself, against a known_hosts holding exactly the key our connection verified.
    const verified = await runner.connect();
    const dir = ensureDir(node.name, join(options.workDir, 'libvirt-ssh'));
    const knownHostsFile = join(dir, `${fileSafe(node.name)}.known_hosts`);
    writeFileSync(knownHostsFile, knownHostsLine(node.address, node.ssh.port, verified.hostKey), { mode: 0o600 });
    return remoteLibvirtUri({ localUri, user: node.ssh.user, host: node.address, port: node.ssh.port, knownHostsFile, ...keyFileFor(node, key, dir) });
  });
  return new LibvirtNodeDriver({
    node: node.name,
    runner,
    domains,
    nodeLibvirtUri: localUri,
    sshHostKey: () => {
      const verified = runner.verifiedHost;
      return verified === undefined ? undefined : { fingerprint: verified.hostKey.fingerprint, type: verified.hostKey.type, trustedOnFirstUse: verified.trustedOnFirstUse };
    },
  });
}

/** libvirt's keyfile= wants a path: an inline key is written (0600) beside the known_hosts file. */
function keyFileFor(node: DesiredNode, key: ResolvedKey, dir: string): { keyFile?: string } {
  if (key.kind === 'file') return { keyFile: key.path };
  if (key.kind === 'agent') return {};
  const path = join(dir, `${fileSafe(node.name)}.key`);
  writeFileSync(path, key.text.endsWith('\n') ? key.text : `${key.text}\n`, { mode: 0o600 });
  return { keyFile: path };
}

function ensureDir(node: string, path: string): string {
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new NodeError(node, `cannot create ${path}: ${(error as Error).message}`, { cause: error });
  }
  return path;
}

function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}
