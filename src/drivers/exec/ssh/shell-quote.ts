import { randomBytes } from 'node:crypto';

/**
 * POSIX shell quoting. Every value that reaches a remote shell passes through
 * here: sshd hands the command line to the user's shell, so an unquoted name
 * would be code.
 */

// Characters no POSIX shell treats specially; anything else gets quoted.
const safe = /^[A-Za-z0-9_\-.,:/@%+=]+$/;

/** One argument, quoted so any POSIX shell reads it back byte for byte. */
export function quote(value: string): string {
  if (value.includes('\0')) throw new Error('a shell argument cannot contain a NUL byte');
  if (safe.test(value)) return value;
  // Inside single quotes nothing is special except the quote itself, which is closed, escaped and reopened.
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quote).join(' ');
}

/** A fragment that `sh` inserts verbatim: only for text the code itself wrote. */
export class RawShell {
  constructor(readonly text: string) {}
}

export function raw(text: string): RawShell {
  return new RawShell(text);
}

type ShellValue = string | number | RawShell | readonly (string | number)[];

/**
 * Template tag for scripts: interpolated values are quoted (arrays become
 * several quoted words), so building a script from names cannot inject code.
 */
export function sh(strings: TemplateStringsArray, ...values: ShellValue[]): string {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    out += render(value) + (strings[index + 1] ?? '');
  });
  return out;
}

function render(value: ShellValue): string {
  if (value instanceof RawShell) return value.text;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return String(value);
  }
  if (typeof value === 'string') return quote(value);
  return value.map((item) => (typeof item === 'number' ? String(item) : quote(item))).join(' ');
}

/**
 * A quoted here-document carrying `content` verbatim (no expansion), for
 * handing XML to a command inside a script: `cat >file ${heredoc(xml)}`.
 * The delimiter is random and checked against the content.
 */
export function heredoc(content: string): RawShell {
  if (content.includes('\0')) throw new Error('a here-document cannot contain a NUL byte');
  let delimiter: string;
  do {
    delimiter = `QVD_EOF_${randomBytes(8).toString('hex')}`;
  } while (content.split('\n').includes(delimiter));
  const body = content.endsWith('\n') ? content : `${content}\n`;
  return raw(`<<'${delimiter}'\n${body}${delimiter}\n`);
}
