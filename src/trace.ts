/**
 * QVD_TRACE=1: one line on stderr per phase of a command, with the
 * milliseconds since the process started (performance.now()) and the CPU
 * time it has used so far (user + system), so that a slow
 * `qvd plan`/`apply` can be taken apart in the real CLI process. Off, it costs
 * one boolean test per call.
 */
const enabled = ((v) => v !== undefined && v !== '' && v !== '0')(process.env['QVD_TRACE']);

export function trace(what: string): void {
  if (!enabled) return;
  const cpu = process.cpuUsage();
  process.stderr.write(`qvd-trace ${performance.now().toFixed(1).padStart(7)} ms (cpu ${((cpu.user + cpu.system) / 1000).toFixed(0).padStart(4)} ms)  ${what}\n`);
}

/** Traces the start and the end (or failure) of `work`. */
export async function traced<T>(what: string, work: () => Promise<T>): Promise<T> {
  if (!enabled) return work();
  trace(`${what} ...`);
  try {
    const result = await work();
    trace(`${what} done`);
    return result;
  } catch (error) {
    trace(`${what} failed`);
    throw error;
  }
}

export const tracing = enabled;
