// Subpaths, not the package index: the index loads help, ux and the rest of oclif on every start.
import { Command } from '@oclif/core/command';
import * as Errors from '@oclif/core/errors';
import * as Flags from '@oclif/core/flags';
import type * as Interfaces from '@oclif/core/interfaces';
import { ExitCode, InvalidInputError, QvdError } from '../errors.js';
import { formatDiagnostic } from '../spec/format-diagnostic.js';
import { trace } from '../trace.js';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof QvdCommand)['baseFlags'] & T['flags']>;
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

/**
 * Every command returns a typed result: oclif prints it as JSON with --json,
 * the command prints it for humans otherwise. Errors are rendered in one
 * place, here, with their exit code.
 */
export abstract class QvdCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true;
  static override baseFlags = {
    'no-color': Flags.boolean({ description: 'Never use colours (also: NO_COLOR set, or output not a terminal).', helpGroup: 'GLOBAL' }),
  };

  protected flags!: BaseFlags<T>;
  protected args!: BaseArgs<T>;

  public override async init(): Promise<void> {
    trace(`cli: command ${this.id ?? '?'} loaded`);
    await super.init();
    const ctor = this.ctor as typeof QvdCommand;
    const { args, flags } = await this.parse({
      flags: ctor.flags,
      baseFlags: ctor.baseFlags,
      args: ctor.args,
      enableJsonFlag: ctor.enableJsonFlag,
      strict: ctor.strict,
    });
    this.flags = flags as BaseFlags<T>;
    this.args = args as BaseArgs<T>;
    trace('cli: flags parsed');
  }

  /** Colours only for a person at a terminal. */
  protected get color(): boolean {
    return process.stdout.isTTY === true && !this.flags['no-color'] && process.env['NO_COLOR'] === undefined && !this.jsonEnabled();
  }

  /** Human output goes to stdout, except under --json where only the result is printed. */
  protected say(text: string): void {
    if (!this.jsonEnabled()) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<void> {
    // oclif's own exit (this.exit) is not an error to report.
    if (err instanceof Errors.ExitError) throw err;
    const code = exitCodeOf(err);
    if (this.jsonEnabled()) {
      this.logJson({ error: errorJson(err, code) });
    } else {
      process.stderr.write(renderError(err, process.stderr.isTTY === true && process.env['NO_COLOR'] === undefined && !this.flags?.['no-color']));
    }
    process.exitCode = code;
  }
}

function exitCodeOf(err: Error & { oclif?: { exit?: number } }): number {
  if (err instanceof QvdError) return err.exitCode;
  // Flag and argument parse errors are invalid input too (oclif says 2, which means "changes pending" here).
  if (err instanceof Errors.CLIError || err.oclif !== undefined) return ExitCode.invalidInput;
  return ExitCode.error;
}

function errorJson(err: Error, code: number): Record<string, unknown> {
  return {
    name: err instanceof QvdError || err instanceof Errors.CLIError ? err.name : 'InternalError',
    message: err.message,
    exitCode: code,
    ...(err instanceof QvdError && err.hint !== undefined ? { hint: err.hint } : {}),
    ...(err instanceof InvalidInputError ? { diagnostics: err.diagnostics } : {}),
  };
}

function renderError(err: Error, color: boolean): string {
  const red = (s: string): string => (color ? `\u001b[31m${s}\u001b[0m` : s);
  const out: string[] = [];
  if (err instanceof InvalidInputError && err.diagnostics.length > 0) {
    for (const d of err.diagnostics) out.push(formatDiagnostic(d, { color }));
    out.push(red(`${err.message}`));
  } else if (err instanceof QvdError || err instanceof Errors.CLIError) {
    out.push(`${red('error:')} ${err.message.replace(/^Error: /, '')}`);
  } else {
    out.push(`${red('internal error:')} ${err.message}`, 'This is a bug in qvd; please report it with the output of QVD_DEBUG=1.');
    if (process.env['QVD_DEBUG'] !== undefined) out.push(err.stack ?? '');
  }
  if (err instanceof QvdError && err.hint !== undefined) out.push(`hint: ${err.hint}`);
  return out.join('\n') + '\n';
}
