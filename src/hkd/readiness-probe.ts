import { connect } from 'node:net';

/** The VM facts a probe may use. */
export interface ProbeTarget {
  readonly vm: string;
  readonly ip: string;
  /** The VM's agent secret, when its image runs the VMA. */
  readonly vmaSecret?: string;
}

/**
 * "Is this VM ready for a session?" With an agent: it answers (see
 * agent-readiness-probe.ts; the session itself is started per connect by
 * the L7R backend). Without: its desktop port accepts a TCP connection.
 */
export interface ReadinessProbe {
  ready(target: ProbeTarget, signal?: AbortSignal): Promise<boolean>;
}

/** The NX agent's port: display 100, 4000 + 100. */
export const NX_PORT = 4100;

/** Ready when `ip:port` accepts a connection, from this host (so: on the node). */
export class TcpPortProbe implements ReadinessProbe {
  constructor(
    readonly port: number = NX_PORT,
    readonly timeoutMs = 1000,
  ) {}

  ready(target: ProbeTarget, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      if (signal?.aborted === true) return resolve(false);
      const socket = connect({ host: target.ip, port: this.port });
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(ok);
      };
      const onAbort = (): void => done(false);
      const timer = setTimeout(() => done(false), this.timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
    });
  }
}
