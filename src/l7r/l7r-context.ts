import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Admission } from './admission.js';
import type { L7rBackend } from './l7r-backend.js';
import type { L7rLimits } from './l7r-limits.js';
import type { L7rMetrics } from './l7r-metrics.js';
import type { RelayVerifier } from './relay-token.js';
import type { RequestAuthenticator } from './request-authenticator.js';
import type { Tunnel } from './tunnel.js';

/** What request handlers share for the life of one server. */
export interface L7rContext {
  readonly backend: L7rBackend;
  readonly authenticator: RequestAuthenticator;
  readonly logger: Logger;
  readonly metrics: L7rMetrics | undefined;
  readonly limits: L7rLimits;
  /** Bounds the requests worked on at once (ping is never queued). */
  readonly admission: Admission;
  /** The cluster's relay key, when this L7R relays to and answers other nodes' L7Rs. */
  readonly relay: { readonly key: Buffer; readonly verifier: RelayVerifier } | undefined;
  /** Open tunnels, for shutdown. */
  readonly tunnels: Set<Tunnel>;
  /** A connection proven to come from another node's L7R (a relay) stops counting against its address. */
  exemptFromAddressCap(socket: TLSSocket): void;
  /** Shutting down: no new sessions, connections close after their answer. */
  isDraining(): boolean;
  /** The backend serves and the server is not draining. */
  isServing(): boolean;
}
