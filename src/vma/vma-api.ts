/**
 * The VMA's wire contract, shared by the agent (inside the guest) and its
 * callers on the node (HKD, L7R, tests). Everything here is plain data that
 * travels as JSON.
 *
 * Transport: HTTP/1.1 on port 3030, `POST /vma/<method>` with a JSON object
 * body (or `GET /vma/<method>?k=v` for the original's style), header
 * `Authorization: Bearer <vm secret>`. Answers are JSON: 200 with the result,
 * or 4xx/5xx with `{ "error": { "code", "message" } }`.
 */

export const VMA_PORT = 3030;

/** nxagent's display in the guest; its NX listener is on 4000 + this. */
export const NX_DISPLAY = 100;
export const NX_PORT = 4000 + NX_DISPLAY;

export const VMA_METHODS = ['ping', 'x_state', 'x_start', 'x_suspend', 'x_stop', 'poweroff'] as const;
export type VmaMethod = (typeof VMA_METHODS)[number];

/**
 * The X session's state, as the original QVD names them:
 * stopped -> starting -> provisioning -> listening -> connected
 *   -> suspending -> suspended (client gone; apps kept) -> listening (x_start resumes) ...
 *   -> stopping -> stopped.
 */
export type XState = 'stopped' | 'starting' | 'provisioning' | 'listening' | 'connected' | 'suspending' | 'suspended' | 'stopping';

/** Parameters of `x_start` after validation (see parse-x-start-params.ts for the accepted input). */
export interface XStartParams {
  /** The user's login as the L7R knows it (`user`, `user@tenant`); mapped to a Unix name in the guest. */
  readonly user: string;
  /** NX session cookie: 32 lowercase hex digits, fresh for every client connection. */
  readonly cookie: string;
  /** `WIDTHxHEIGHT`, e.g. `1024x768`. */
  readonly geometry?: string;
  /** NX keyboard, e.g. `pc105/us`. */
  readonly keyboard?: string;
  /** NX link type: modem, isdn, adsl, wan, lan or local. */
  readonly link?: string;
  readonly fullscreen?: boolean;
  /** Client operating system as NX spells it (linux, windows, macosx). */
  readonly client?: string;
}

export interface PingResult {
  readonly alive: true;
  readonly version: string;
  /** Seconds since the VMA started. */
  readonly uptime: number;
}

export interface HomeInfo {
  /** Block device the home is on, or `null` when /home lives on the root disk. */
  readonly device: string | null;
  /** True when the VMA created the filesystem during this boot (first use of the disk). */
  readonly formatted: boolean;
}

export interface XStateResult {
  readonly state: XState;
  /** ISO time of the last state change. */
  readonly since: string;
  /** Unix name of the session's user, while there is a session. */
  readonly user?: string;
  readonly display: number;
  /** How often nxagent had to be restarted before a client attached (the failed-X-connection trap). */
  readonly agentRestarts: number;
  /** Why the last session ended abnormally or could not start, if it did. */
  readonly lastError?: string;
  readonly home?: HomeInfo;
}

export interface VmaErrorBody {
  readonly error: { readonly code: VmaErrorCode; readonly message: string };
}

export type VmaErrorCode = 'unauthorized' | 'not-found' | 'bad-request' | 'conflict' | 'not-configured' | 'internal';

export interface VmaResults {
  ping: PingResult;
  x_state: XStateResult;
  x_start: XStateResult;
  x_suspend: XStateResult;
  x_stop: XStateResult;
  poweroff: XStateResult;
}
