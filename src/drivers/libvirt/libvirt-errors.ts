/**
 * libvirt errors reach us with code -1 (through @unraid/libvirt) or as virsh
 * stderr, so they are told apart by message. The phrases are libvirt's own
 * (src/util/virerror.c); the C locale is forced wherever virsh runs.
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function isDomainNotFound(error: unknown): boolean {
  return /Domain not found|no domain with matching (name|uuid)/i.test(errorMessage(error));
}

export function isNotRunning(error: unknown): boolean {
  return /domain is not running|is not active|not running/i.test(errorMessage(error));
}

export function isAlreadyRunning(error: unknown): boolean {
  return /already running|already active/i.test(errorMessage(error));
}

/** The connection to libvirtd is gone (daemon restarted, SSH transport dropped): worth one reconnect. */
export function isConnectionLost(error: unknown): boolean {
  return /client socket is closed|End of file while reading data|Cannot write data|Cannot recv data|no connection driver|not connected|connection closed|Broken pipe|internal error: client/i.test(errorMessage(error));
}
