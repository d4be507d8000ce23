/** What `qvd connect` is asked to do; the oclif command maps its flags onto this. */
export interface ConnectOptions {
  /** L7R host name or address. */
  readonly host: string;
  /** L7R port; default 8443. */
  readonly port?: number;
  readonly user: string;
  readonly password: string;
  /** VM by name or id; may be left out when the user has exactly one. */
  readonly vm?: string | number;
  /** Only list the user's VMs. */
  readonly list?: boolean;
  /**
   * Pinned SHA-256 of the server certificate (DER): hex with or without
   * colons, or `SHA256:<base64>`. Takes precedence over `ca`.
   */
  readonly fingerprint?: string;
  /** PEM CA certificate(s) to verify the server by (host name checked). Default: the system's CAs. */
  readonly ca?: string;
  /** X display for nxproxy; default $DISPLAY. */
  readonly display?: string;
  readonly onProgress?: (progress: ConnectProgress) => void;
  /** default `nxproxy` from PATH */
  readonly nxproxyPath?: string;
  /** `WIDTHxHEIGHT` of the remote desktop. */
  readonly geometry?: string;
  /** NX keyboard, e.g. `pc105/us`. */
  readonly keyboard?: string;
  /** NX link type; default lan. */
  readonly link?: string;
  readonly fullscreen?: boolean;
  /** Attempts for transient failures (network errors, 503); default 5 like the original client. */
  readonly attempts?: number;
  /** Pause before retry n is n times this; default 1000 ms. */
  readonly retryDelayMs?: number;
  /** TCP + TLS handshake limit per attempt; default 15 s. */
  readonly connectTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

export type ConnectStage = 'connecting' | 'authenticated' | 'requesting-vm' | 'vm-info' | 'retrying' | 'tunnel' | 'nxproxy';

/** A step worth showing the user; `message` is ready to print. */
export interface ConnectProgress {
  readonly stage: ConnectStage;
  readonly message: string;
}

/** One entry of `/qvd/list_of_vm`. */
export interface QvdVm {
  readonly id: number;
  readonly name: string;
  readonly state: string;
  readonly blocked: boolean;
}

export interface SessionEnd {
  /** Who ended it: nxproxy exited, the server closed the tunnel, or close() was called. */
  readonly reason: 'nxproxy-exited' | 'server-closed' | 'closed';
  readonly nxproxyExitCode: number | null;
  /** The end of nxproxy's own log (its stderr), to say why a session failed. */
  readonly nxproxyLog: string;
  readonly bytesFromServer: number;
  readonly bytesToServer: number;
}

/** A running NX session: nxproxy shows the desktop, the tunnel carries it. */
export interface ClientSession {
  /** Local port nxproxy connected to (4000 + its display number). */
  readonly localPort: number;
  readonly nxproxyPid: number;
  /** Resolves when the session is over, whoever ended it. */
  readonly closed: Promise<SessionEnd>;
  close(): Promise<SessionEnd>;
}

export type ConnectResult = { readonly kind: 'list'; readonly vms: readonly QvdVm[] } | { readonly kind: 'session'; readonly vm: QvdVm; readonly session: ClientSession };
