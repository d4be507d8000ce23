/** Bounds on what one client may hold or make the L7R wait for. */
export interface L7rLimits {
  /** Request line plus headers; more is answered 431 and the connection closed. */
  readonly maxHeaderBytes: number;
  readonly maxHeaders: number;
  /** From the first byte of a request to its last header line (slow-loris guard): 408 and close. */
  readonly requestTimeoutMs: number;
  /** Between requests on a kept-alive connection (a user choosing a desktop in a GUI client). */
  readonly idleTimeoutMs: number;
  /** TLS handshake. */
  readonly handshakeTimeoutMs: number;
  /** Open client connections (HTTP and tunnels); more are refused at accept. */
  readonly maxConnections: number;
  /**
   * Open client connections from one address (an IPv6 /64), handshakes included; more are refused at accept.
   * 0: no cap. Relays from other nodes stop counting once their relay token checks out.
   */
  readonly maxConnectionsPerAddress: number;
  /** Upper bound on preparing a VM (the backend has its own, shorter, timers). */
  readonly prepareTimeoutMs: number;
  /** TCP connect to the VM's NX port. */
  readonly endpointConnectTimeoutMs: number;
  /** After one side of a tunnel closed cleanly, how long the other may still flush before it is cut. */
  readonly tunnelLingerMs: number;
  /** Bytes a client may send ahead while its request is handled before reading pauses. */
  readonly maxBufferedBytes: number;
  /** Requests worked on at once (the rest queue in arrival order), see admission.ts. */
  readonly activeRequests: number;
  /** After this long a request gives its slot to the next one and goes on without it (a VM booting). */
  readonly requestSlotMs: number;
}

export const DEFAULT_L7R_LIMITS: L7rLimits = {
  maxHeaderBytes: 16 * 1024,
  maxHeaders: 100,
  requestTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  handshakeTimeoutMs: 10_000,
  maxConnections: 10_000,
  // Generous: a whole office can sit behind one NAT address, each user with a tunnel and a list connection.
  maxConnectionsPerAddress: 1_000,
  prepareTimeoutMs: 330_000,
  endpointConnectTimeoutMs: 10_000,
  tunnelLingerMs: 30_000,
  maxBufferedBytes: 256 * 1024,
  activeRequests: 16,
  requestSlotMs: 50,
};
