import type { ProcessExit, ProcessRunner, RunAs, RunResult, SpawnOptions, SpawnedProcess } from '../../../src/vma/process-runner.js';

/** A process the test plays: it emits lines and exits when the test says so. */
export class FakeProcess implements SpawnedProcess {
  readonly signals: { signal: NodeJS.Signals; group: boolean }[] = [];
  readonly exited: Promise<ProcessExit>;
  private resolveExit!: (e: ProcessExit) => void;
  private done = false;
  /** What the process does when signalled; default: nothing (like a process that ignores it). */
  onSignal: (signal: NodeJS.Signals, p: FakeProcess) => void = () => {};

  constructor(
    readonly pid: number,
    readonly command: string,
    readonly args: readonly string[],
    readonly options: SpawnOptions,
  ) {
    this.exited = new Promise((r) => (this.resolveExit = r));
  }

  kill(signal: NodeJS.Signals, group = false): void {
    this.signals.push({ signal, group });
    if (signal === 'SIGKILL') this.exit(null, 'SIGKILL');
    else this.onSignal(signal, this);
  }

  line(text: string): void {
    this.options.onLine?.(text, 'stderr');
  }

  exit(code: number | null, signal: string | null = null): void {
    if (this.done) return;
    this.done = true;
    this.resolveExit({ code, signal });
  }

  get isRunning(): boolean {
    return !this.done;
  }
}

export class FakeProcessRunner implements ProcessRunner {
  readonly runs: { command: string; args: readonly string[]; options: RunAs | undefined }[] = [];
  readonly spawned: FakeProcess[] = [];
  private nextPid = 100;
  /** Answers for run(); default exit 0. */
  answer: (command: string, args: readonly string[]) => RunResult = () => ({ code: 0, stdout: '', stderr: '' });
  /** Called for every new process, e.g. to give it signal behaviour. */
  onSpawn: (p: FakeProcess) => void = () => {};

  async run(command: string, args: readonly string[], options?: RunAs): Promise<RunResult> {
    this.runs.push({ command, args, options });
    return this.answer(command, args);
  }

  spawn(command: string, args: readonly string[], options: SpawnOptions): SpawnedProcess {
    const p = new FakeProcess(this.nextPid++, command, args, options);
    this.spawned.push(p);
    this.onSpawn(p);
    return p;
  }

  agents(): FakeProcess[] {
    return this.spawned.filter((p) => p.command === 'nxagent');
  }

  lastAgent(): FakeProcess {
    const a = this.agents().at(-1);
    if (a === undefined) throw new Error('no nxagent was spawned');
    return a;
  }
}
