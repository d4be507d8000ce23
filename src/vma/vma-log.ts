/** The VMA's logging surface; the entry point backs it with pino on the serial console. */
export interface VmaLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLog: VmaLog = { info() {}, warn() {}, error() {} };
