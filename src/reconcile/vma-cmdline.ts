/**
 * The kernel command line parameter that hands a VM its agent secret (read
 * by the guest's PID 1, see docs/vma.md).
 */
export const VMA_SECRET_PARAM = 'qvd.vma_secret';

const SECRET_VALUE = new RegExp(`(${VMA_SECRET_PARAM.replace('.', '\\.')}=)[^\\s<"'&]+`, 'g');

/**
 * The image's command line plus the secret. `quiet` is added when missing:
 * without it the kernel prints its whole command line, secret included, on
 * the serial console, which lands in a log file on the node.
 */
export function cmdlineWithSecret(cmdline: string, secret: string | undefined): string {
  if (secret === undefined) return cmdline;
  const quiet = /(^|\s)quiet(\s|$)/.test(cmdline) ? '' : ' quiet';
  return `${cmdline}${quiet} ${VMA_SECRET_PARAM}=${secret}`.trim();
}

/** Any text (a command line, a domain XML) with the secret's value replaced, for people and logs. */
export function maskVmaSecret(text: string): string {
  return text.replace(SECRET_VALUE, '$1(sensitive)');
}
