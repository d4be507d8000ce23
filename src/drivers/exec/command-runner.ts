/**
 * The one way qvd runs things on a node, local or over SSH. Kept narrow so the
 * libvirt driver does not care which, and so every remote command goes
 * through one quoting path.
 */
export interface CommandRunner {
  /** The node this runner reaches, used in error messages. */
  readonly node: string;

  /**
   * Run one program with arguments (never through a shell on the caller's
   * side; over SSH each argument is quoted). Resolves when the exit code is
   * in `okExitCodes` (default `[0]`), else throws a CommandFailedError.
   */
  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;

  /**
   * Run a bash script given on stdin, so a batch of reads costs one round
   * trip. The script itself must quote any value it embeds (see `sh` in
   * shell-quote.ts). `args` become `$1...` inside the script.
   */
  runScript(script: string, options?: ScriptOptions): Promise<CommandResult>;

  /** Copy a local file to `remotePath` as is (no verification: see verified-upload.ts). */
  upload(localPath: string, remotePath: string, onProgress?: UploadProgress): Promise<void>;

  /** Start connecting (host key checked as always) without running anything; see NodeDriver.prepare. */
  prepare?(): void;

  close(): Promise<void>;
}

export interface RunOptions {
  readonly stdin?: string | Buffer;
  /** Kill the command after this long; default 120 s. */
  readonly timeoutMs?: number;
  readonly okExitCodes?: readonly number[];
}

export interface ScriptOptions {
  /** Names the script in errors ("create volume p/v"); default: its first command. */
  readonly label?: string;
  readonly timeoutMs?: number;
  readonly okExitCodes?: readonly number[];
  readonly args?: readonly string[];
}

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export type UploadProgress = (sentBytes: number, totalBytes: number) => void;

export const defaultCommandTimeoutMs = 120_000;
