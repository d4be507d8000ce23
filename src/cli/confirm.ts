import { createInterface } from 'node:readline/promises';
import { QvdError } from '../errors.js';

/**
 * Terraform's rule: only the word "yes" goes on. Without a terminal there is
 * nobody to ask, so --auto-approve is required instead of a silent default.
 */
export async function confirm(question: string, autoApprove: boolean, machineOutput = false): Promise<boolean> {
  if (autoApprove) return true;
  if (process.stdin.isTTY !== true || machineOutput) {
    throw new QvdError('no terminal to confirm on (or --json), and --auto-approve was not given; nothing was changed', { hint: 'Review with `qvd plan`, then run `qvd apply --auto-approve` (or apply a saved plan file).' });
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(`${question}\n  Only 'yes' will be accepted: `);
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}
