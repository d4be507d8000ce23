import type { ApplyReporter } from '../reconcile/apply-plan.js';

/**
 * Progress as plain lines: what pipelines and log collectors want, and what a
 * terminal gets too when listr2's live view is not in use.
 */
export class LineReporter implements ApplyReporter {
  private readonly started = new Map<string, number>();
  constructor(
    private readonly write: (line: string) => void,
    private readonly color: boolean,
  ) {}

  step(node: string | undefined, address: string, status: 'started' | 'done' | 'failed' | 'skipped', error?: string): void {
    const key = `${node ?? ''} ${address}`;
    const where = node === undefined ? 'store' : node;
    const paint = (code: number, s: string): string => (this.color ? `\u001b[${code}m${s}\u001b[0m` : s);
    switch (status) {
      case 'started':
        this.started.set(key, Date.now());
        this.write(`${where}: ${address}...`);
        return;
      case 'done':
        this.write(`${where}: ${address}: ${paint(32, 'done')} (${this.elapsed(key)})`);
        return;
      case 'failed':
        this.write(`${where}: ${address}: ${paint(31, 'FAILED')} (${this.elapsed(key)}): ${error ?? ''}`);
        return;
      case 'skipped':
        this.write(`${where}: ${address}: ${paint(90, 'skipped')}`);
        return;
    }
  }

  private elapsed(key: string): string {
    const t = this.started.get(key);
    return t === undefined ? '?' : `${((Date.now() - t) / 1000).toFixed(1)}s`;
  }
}
