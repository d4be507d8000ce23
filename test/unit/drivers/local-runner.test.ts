import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CommandFailedError } from '../../../src/drivers/exec/command-failed-error.js';
import { LocalRunner } from '../../../src/drivers/exec/local-runner.js';
import { Semaphore } from '../../../src/drivers/exec/semaphore.js';
import { NodeError } from '../../../src/errors.js';

const runner = new LocalRunner('local');

describe('LocalRunner', () => {
  it('runs argv without a shell', async () => {
    expect(await runner.run(['printf', '%s|', '$HOME', 'a b', '*'])).toEqual({ stdout: '$HOME|a b|*|', stderr: '', exitCode: 0 });
  });

  it('throws CommandFailedError with exit code and stderr unless accepted', async () => {
    const error = await runner.run(['bash', '-c', 'echo nope >&2; exit 3']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandFailedError);
    expect(error).toMatchObject({ commandExitCode: 3, stderr: 'nope\n', node: 'local' });
    expect((await runner.run(['bash', '-c', 'exit 3'], { okExitCodes: [3] })).exitCode).toBe(3);
  });

  it('says which program is missing', async () => {
    const error = await runner.run(['qvd-no-such-program']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeError);
    expect((error as NodeError).hint).toMatch(/install qvd-no-such-program/);
  });

  it('runs scripts from stdin with arguments; commands inside cannot eat the script', async () => {
    const result = await runner.runScript('cat; echo "[$1]"\necho after', { args: ['x y'] });
    expect(result.stdout).toBe('[x y]\nafter\n');
  });

  it('kills a script and everything it started on timeout', async () => {
    const marker = `${3000 + Math.floor(Math.random() * 1000)}.5`;
    const error = await runner.runScript(`sleep ${marker} & wait`, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/timed out after 300 ms/);
    await new Promise((r) => setTimeout(r, 200));
    expect(execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).split('\n').filter((l) => l === `sleep ${marker}`)).toEqual([]);
  });

  it('runs in the C locale', async () => {
    expect((await runner.run(['sh', '-c', 'echo $LC_ALL'])).stdout).toBe('C\n');
  });
});

describe('Semaphore', () => {
  it('never runs more than its size at once, in arrival order', async () => {
    const semaphore = new Semaphore(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(Array.from({ length: 6 }, (_, i) => semaphore.use(async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await new Promise((r) => setTimeout(r, 10));
      running--;
    })));
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
