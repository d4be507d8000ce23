/**
 * Wake-ups between serve processes (and within one). They only shorten
 * waits: every reader also polls, so a lost notification delays, never breaks.
 * PostgreSQL: LISTEN/NOTIFY; SQLite (one node): an in-process emitter.
 */
export interface Notifier {
  notify(channel: string, payload: string): Promise<void>;
  /** Resolves once listening; the returned function stops it. */
  listen(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Channel of a node's HKD (start/stop requests) and its L7R (takeover requests). */
export const nodeChannel = (node: string): string => channelName(`qvd_node_${node}`);
/** Every VM state change, for whoever waits on a VM (prepareVm on any node). */
export const VM_CHANNEL = 'qvd_vms';

/**
 * PostgreSQL channel names are identifiers of at most 63 bytes; node names
 * may be longer or hold characters an identifier cannot: those get a hash.
 */
function channelName(raw: string): string {
  if (/^[a-z0-9_]{1,63}$/.test(raw)) return raw;
  let h = 0x811c9dc5;
  for (const ch of Buffer.from(raw, 'utf8')) h = Math.imul(h ^ ch, 0x01000193) >>> 0;
  const safe = raw.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 50);
  return `${safe}_${h.toString(16)}`;
}

/** Payloads on a node channel. */
export type NodeMessage = { readonly kind: 'wake'; readonly vm?: number } | { readonly kind: 'takeover'; readonly session: string; readonly by: string };

export function encodeNodeMessage(m: NodeMessage): string {
  return JSON.stringify(m);
}

export function decodeNodeMessage(payload: string): NodeMessage | undefined {
  try {
    const m = JSON.parse(payload) as Partial<NodeMessage>;
    if (m.kind === 'wake') return m as NodeMessage;
    if (m.kind === 'takeover' && typeof m.session === 'string') return m as NodeMessage;
  } catch {
    // A foreign or garbled payload is ignored: polling covers it.
  }
  return undefined;
}
