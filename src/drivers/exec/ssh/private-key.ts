import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { NodeError } from '../../../errors.js';

/** A key ready for ssh2 (text) and for libvirt (a file), or the agent. */
export type ResolvedKey =
  | { readonly kind: 'file'; readonly path: string; readonly text: string }
  | { readonly kind: 'inline'; readonly text: string }
  | { readonly kind: 'agent'; readonly socket: string };

/**
 * nodes[].ssh.private_key is a path (usual) or the key itself; without it,
 * the usual default files, then the ssh-agent, like ssh(1) would.
 */
export function resolvePrivateKey(node: string, spec: string | undefined): ResolvedKey {
  if (spec !== undefined && spec.includes('-----BEGIN')) return { kind: 'inline', text: spec };
  if (spec !== undefined && spec !== '') {
    const path = spec.startsWith('~/') ? join(homedir(), spec.slice(2)) : spec;
    try {
      return { kind: 'file', path, text: readFileSync(path, 'utf8') };
    } catch (error) {
      throw new NodeError(node, `cannot read SSH private key ${path}: ${(error as Error).message}`, { hint: 'Check nodes[].ssh.private_key.', cause: error });
    }
  }
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const path = join(homedir(), '.ssh', name);
    if (existsSync(path)) return { kind: 'file', path, text: readFileSync(path, 'utf8') };
  }
  const socket = process.env['SSH_AUTH_SOCK'];
  if (socket !== undefined && socket !== '') return { kind: 'agent', socket };
  throw new NodeError(node, 'no SSH private key: nodes[].ssh.private_key is not set, there is no ~/.ssh/id_ed25519, id_ecdsa or id_rsa, and no ssh-agent', {
    hint: 'Set nodes[].ssh.private_key to the key that logs in to the node.',
  });
}
