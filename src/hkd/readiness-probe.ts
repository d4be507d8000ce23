import { connect } from 'node:net';

/** The VM facts a probe may use. */
export interface ProbeTarget {
  readonly vm: string;
  readonly ip: string;
}

/**
 * "Is this VM ready for a session?" Until the VMA exists (NX issue) the
 * answer is "its desktop port accepts a TCP connection"; the VMA handshake
 * (x_start, then x_state = listening) will be another implementation.
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
