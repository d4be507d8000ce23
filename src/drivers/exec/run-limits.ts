/**
 * Command output is buffered in memory: observe prints every domain's XML,
 * so the cap is generous, but a runaway command must not take the process down.
 */
export const maxOutputBytes = 256 * 1024 * 1024;

/**
 * Scripts arrive on stdin. Wrapping them in a group makes bash parse the
 * whole script before running any of it, and the group's own stdin is
 * /dev/null: a command inside that reads stdin cannot eat the rest of the script.
 */
export function wrapScript(script: string): string {
  return `{\n${script}\n} </dev/null\n`;
}

/** Every command runs in the C locale: virsh's output is parsed and its messages matched. */
export const commandLocale = { LC_ALL: 'C', LANG: 'C' } as const;
