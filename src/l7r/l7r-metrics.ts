import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Why a connect_to_vm ended before or at the 101. */
export type ConnectOutcome = 'ok' | 'auth_failed' | 'throttled' | 'bad_request' | 'not_found' | 'blocked' | 'unavailable' | 'aborted';

/** Something whose byte counts grow while it lives (a tunnel's VM-side socket). */
export interface ByteSource {
  /** Client to VM. */
  readonly bytesIn: number;
  /** VM to client. */
  readonly bytesOut: number;
}

export interface L7rMetrics {
  readonly sessionsActive: Gauge;
  readonly connectsTotal: Counter<'outcome'>;
  readonly timeTo101: Histogram;
  readonly tunnelBytes: Counter<'direction'>;
  readonly authFailures: Counter<'reason'>;
  /** Connections closed at accept: `max_connections` (the server is full) or `per_address` (that address is). */
  readonly connectionsRefused: Counter<'reason'>;
  /** Tunnels this node carries for sessions another node's L7R holds (relays to this node's VMs). */
  readonly relaysActive: Gauge;
  readonly relayBytes: Counter<'direction'>;
  /** Start counting a tunnel's bytes; the returned function takes the final count and stops. */
  trackTunnel(source: ByteSource): () => void;
  /** The same for a relayed tunnel on the VM's node (its bytes are the relaying node's tunnel bytes: counted apart). */
  trackRelay(source: ByteSource): () => void;
}

/**
 * A byte counter fed by live sources: not counted per chunk (that would
 * cost on the hot path), but read when the registry is scraped, and once
 * more when a source ends.
 */
function liveBytes(name: string, help: string, registers: Registry[]): { readonly counter: Counter<'direction'>; track(source: ByteSource): () => void } {
  const live = new Map<ByteSource, { in: number; out: number }>();
  const flush = (source: ByteSource, seen: { in: number; out: number }): void => {
    if (source.bytesIn > seen.in) counter.inc({ direction: 'in' }, source.bytesIn - seen.in);
    if (source.bytesOut > seen.out) counter.inc({ direction: 'out' }, source.bytesOut - seen.out);
    seen.in = source.bytesIn;
    seen.out = source.bytesOut;
  };
  const counter = new Counter({
    name,
    help,
    labelNames: ['direction'],
    registers,
    collect() {
      for (const [source, seen] of live) flush(source, seen);
    },
  });
  return {
    counter,
    track(source) {
      const seen = { in: 0, out: 0 };
      live.set(source, seen);
      return () => {
        flush(source, seen);
        live.delete(source);
      };
    },
  };
}

/** The L7R's Prometheus metrics. */
export function createL7rMetrics(registry?: Registry): L7rMetrics {
  const registers = registry === undefined ? [] : [registry];
  const tunnels = liveBytes('qvd_l7r_tunnel_bytes_total', 'Bytes relayed through L7R tunnels (in: client to VM, out: VM to client)', registers);
  const relays = liveBytes('qvd_l7r_relay_bytes_total', "Bytes through relayed tunnels on the VM's node (in: to the VM, out: from it)", registers);
  return {
    sessionsActive: new Gauge({ name: 'qvd_l7r_sessions_active', help: 'Tunnels open now', registers }),
    connectsTotal: new Counter({ name: 'qvd_l7r_connects_total', help: 'connect_to_vm requests by outcome', labelNames: ['outcome'], registers }),
    timeTo101: new Histogram({
      name: 'qvd_l7r_time_to_101_seconds',
      help: 'From a connect_to_vm request to its 101 Switching Protocols',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    tunnelBytes: tunnels.counter,
    authFailures: new Counter({ name: 'qvd_l7r_auth_failures_total', help: 'Refused logins by reason', labelNames: ['reason'], registers }),
    connectionsRefused: new Counter({
      name: 'qvd_l7r_connections_refused_total',
      help: 'Client connections closed at accept, by limit (max_connections, per_address)',
      labelNames: ['reason'],
      registers,
    }),
    relaysActive: new Gauge({ name: 'qvd_l7r_relays_active', help: "Relayed tunnels open now on the VM's node (sessions held by another node)", registers }),
    relayBytes: relays.counter,
    trackTunnel: (source) => tunnels.track(source),
    trackRelay: (source) => relays.track(source),
  };
}
