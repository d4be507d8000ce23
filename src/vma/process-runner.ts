/**
 * How the VMA starts programs. The session logic only talks to this
 * interface, so its unit tests drive a fake that plays nxagent's part.
 */
export interface ProcessRunner {
  /** Run to completion; never throws for a non-zero exit (callers judge the code). */
  run(command: string, args: readonly string[], options?: RunAs & { readonly timeoutMs?: number }): Promise<RunResult>;
  /** Start a long-lived process; its output arrives line by line. */
  spawn(command: string, args: readonly string[], options: SpawnOptions): SpawnedProcess;
}

export interface RunAs {
  readonly uid?: number;
  readonly gid?: number;
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export interface SpawnOptions extends RunAs {
  /** Called for every complete line of stdout and stderr. */
  readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /**
   * Own process group: lets `kill(signal, true)` reach everything the
   * program started (a desktop session forks many children).
   */
  readonly group?: boolean;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ProcessExit {
  /** Exit code, or null when a signal ended it. */
  readonly code: number | null;
  readonly signal: string | null;
}

export interface SpawnedProcess {
  readonly pid: number;
  /** Resolves once, when the process has exited (also when it could not be started). */
  readonly exited: Promise<ProcessExit>;
  /** Send a signal; `group` sends it to the process group (only for `group: true` spawns). Never throws. */
  kill(signal: NodeJS.Signals, group?: boolean): void;
}
