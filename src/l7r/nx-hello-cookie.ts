/**
 * The NX cookie for clients that cannot send one. The original QVD clients
 * start nxproxy without a cookie (their nxagent took any proxy); qvd's agent
 * images start nxagent with a fresh cookie per session, which the L7R knows.
 * nxproxy's first message names its version and options, e.g.
 * `NXPROXY-3.5.0-3.5.99 cookie=<32 hex>,stream=default,data=default ` (seen
 * on the wire from Debian's nxproxy), and nxagent checks the cookie there.
 * So the L7R, which has authenticated the user, adds the cookie to that
 * message when it is missing: the original clients get their desktop, and
 * the cookie still never leaves the cluster for them.
 */

const PREFIX = Buffer.from('NXPROXY-', 'latin1');
/** A hello is a few dozen bytes; a client that sends this much without one is not sending one. */
const MAX_HELLO = 1024;

export type HelloRewrite = { readonly done: false } | { readonly done: true; readonly bytes: Buffer; readonly injected: boolean };

/**
 * `received`: everything the client sent so far. Not done while the hello
 * may still be incomplete; done with the bytes to forward otherwise
 * (unchanged unless the cookie was added).
 */
export function addNxCookie(received: Buffer, cookie: string): HelloRewrite {
  const unchanged: HelloRewrite = { done: true, bytes: received, injected: false };
  const compared = Math.min(received.length, PREFIX.length);
  if (!received.subarray(0, compared).equals(PREFIX.subarray(0, compared))) return unchanged;
  const versionEnd = received.indexOf(0x20);
  const optionsEnd = versionEnd === -1 ? -1 : received.indexOf(0x20, versionEnd + 1);
  if (optionsEnd === -1) return received.length > MAX_HELLO ? unchanged : { done: false };
  const options = received.subarray(versionEnd + 1, optionsEnd).toString('latin1');
  if (options.split(',').some((o) => o.startsWith('cookie='))) return unchanged;
  const added = options.length === 0 ? `cookie=${cookie}` : `cookie=${cookie},`;
  return {
    done: true,
    bytes: Buffer.concat([received.subarray(0, versionEnd + 1), Buffer.from(added, 'latin1'), received.subarray(versionEnd + 1)]),
    injected: true,
  };
}
