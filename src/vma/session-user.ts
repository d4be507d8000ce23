import type { HomeInfo } from './vma-api.js';

/** The Unix account a session runs as, once provisioned. */
export interface SessionUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** Makes the account and its home ready; idempotent within a boot. */
export interface Provisioner {
  provision(login: string): Promise<SessionUser>;
  /** The home disk as found (after the first provision), for x_state. */
  homeInfo(): HomeInfo | undefined;
}
