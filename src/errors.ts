import type { Diagnostic } from './spec/diagnostic.js';

/** Process exit codes, part of the CLI contract (GitOps pipelines branch on them). */
export const ExitCode = {
  ok: 0,
  error: 1,
  changesPending: 2,
  invalidInput: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Base of every error qvd reports on purpose; anything else is a bug and shows as one. */
export class QvdError extends Error {
  readonly exitCode: ExitCode = ExitCode.error;
  /** What the user can do about it, printed under the message. */
  readonly hint: string | undefined;
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** The spec (or a plan file, or a flag) is wrong: nothing was changed. Exit 3. */
export class InvalidInputError extends QvdError {
  override readonly exitCode = ExitCode.invalidInput;
  readonly diagnostics: readonly Diagnostic[];
  constructor(message: string, diagnostics: readonly Diagnostic[] = [], options: { hint?: string } = {}) {
    super(message, options);
    this.diagnostics = diagnostics;
  }
}

/** Another apply holds the state lock. */
export class LockHeldError extends QvdError {}

/** A saved plan no longer matches the state or the nodes it was computed from. */
export class StalePlanError extends QvdError {}

/** A node could not be reached or refused an operation. */
export class NodeError extends QvdError {
  readonly node: string;
  constructor(node: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(`node ${node}: ${message}`, options);
    this.node = node;
  }
}

/** Apply finished but some changes failed; the summary names them. */
export class ApplyFailedError extends QvdError {}
