import { NodeError } from '../../../errors.js';

export interface SshTarget {
  readonly node: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Where the key came from, for the hint (a path, "inline key" or "ssh-agent"). */
  readonly keySource: string;
}

/** Turns ssh2's connection errors into messages that say what failed and what to check. */
export function sshConnectError(target: SshTarget, error: unknown): NodeError {
  const err = error as (Error & { code?: string; level?: string }) | undefined;
  const where = `${target.user}@${target.host}:${target.port}`;
  const message = err?.message ?? String(error);
  const code = err?.code;
  if (code === 'ECONNREFUSED') {
    return new NodeError(target.node, `SSH connection to ${where} refused`, { hint: `Is sshd running on ${target.host} and listening on port ${target.port}?`, cause: error });
  }
  if (code === 'ETIMEDOUT' || err?.level === 'client-timeout' || /timed out/i.test(message)) {
    return new NodeError(target.node, `SSH connection to ${where} timed out`, { hint: `Check that ${target.host} is up and reachable from here (address, routes, firewalls).`, cause: error });
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return new NodeError(target.node, `no route to ${target.host} (${code})`, { hint: 'Check the node\'s address and this machine\'s routes.', cause: error });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new NodeError(target.node, `cannot resolve host name ${target.host} (${code})`, { hint: 'Check the node\'s address in the spec or DNS.', cause: error });
  }
  if (err?.level === 'client-authentication' || /authentication methods failed/i.test(message)) {
    return new NodeError(target.node, `SSH authentication as ${target.user} on ${target.host}:${target.port} failed (key: ${target.keySource})`, {
      hint: `Add the public key of ${target.keySource} to ~${target.user}/.ssh/authorized_keys on the node, or set nodes[].ssh.private_key to a key it accepts.`,
      cause: error,
    });
  }
  if (code === 'ECONNRESET' || /closed|ended/i.test(message)) {
    return new NodeError(target.node, `SSH connection to ${where} was closed by the server during setup: ${message}`, { hint: 'Check the node\'s sshd log (MaxStartups, AllowUsers, a full disk).', cause: error });
  }
  return new NodeError(target.node, `SSH connection to ${where} failed: ${message}`, { cause: error });
}
