import { NodeError } from '../../errors.js';

/** A command ran on the node but ended with an exit code the caller did not accept (or was killed). */
export class CommandFailedError extends NodeError {
  readonly command: string;
  /** -1 when the command was killed (timeout) or no exit status came back. */
  readonly commandExitCode: number;
  readonly stdout: string;
  readonly stderr: string;

  constructor(node: string, details: { command: string; exitCode: number; stdout: string; stderr: string; reason?: string; hint?: string }) {
    const reason = details.reason ?? `exited with code ${details.exitCode}`;
    const stderr = details.stderr.trim();
    super(node, `\`${details.command}\` ${reason}${stderr === '' ? '' : `: ${lastLines(stderr, 20)}`}`, details.hint === undefined ? {} : { hint: details.hint });
    this.command = details.command;
    this.commandExitCode = details.exitCode;
    this.stdout = details.stdout;
    this.stderr = details.stderr;
  }
}

/** Commands are shown shortened: a script would otherwise fill the screen. */
export function describeCommand(argv: readonly string[]): string {
  const text = argv.join(' ');
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function lastLines(text: string, count: number): string {
  const lines = text.split('\n');
  return lines.length <= count ? text : lines.slice(-count).join('\n');
}

/** A script is named by its first meaningful line. */
export function describeScript(script: string): string {
  const line = script.split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#') && !l.startsWith('set ')) ?? '';
  return `bash script (${line.length > 60 ? `${line.slice(0, 57)}...` : line})`;
}
