import { readFileSync } from 'node:fs';

/**
 * Whether a process with this pid exists on this machine. Signal 0 checks
 * without sending anything; EPERM means it exists but belongs to someone else.
 * A zombie (dead, not yet reaped: common where PID 1 does not reap) is dead.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}
