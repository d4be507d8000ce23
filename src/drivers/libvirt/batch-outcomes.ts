import { NodeError } from '../../errors.js';
import type { BatchOutcome, NamedVolumeSpec } from '../node-driver.js';
import type { VolumeResult } from './create-volumes-script.js';
import type { DefineResult } from './define-domains-script.js';
import { messagesAbout, type RemoveOutput } from './remove-batch-scripts.js';

/** What a batch script said about one volume, as its outcome; the errors name the node and the item. */
export function volumeOutcome(node: string, pool: string, v: NamedVolumeSpec, result: VolumeResult | undefined, refreshError: string | undefined, complete: boolean): BatchOutcome {
  if (result === undefined) {
    return { ok: false, error: new NodeError(node, `volume ${pool}/${v.volume}: ${complete ? 'no answer for it' : "the node's answer was cut short"}; the next apply checks it again`) };
  }
  switch (result.status) {
    case 'failed':
      return { ok: false, error: new NodeError(node, `creating volume ${pool}/${v.volume} failed: ${result.error}`) };
    case 'exists': {
      const want = v.backing?.volume;
      if (result.format === 'qcow2' && result.backing === want) return { ok: true };
      return {
        ok: false,
        error: new NodeError(node, `volume ${pool}/${v.volume} already exists as ${result.format}${result.backing === undefined ? '' : ` backed by ${result.backing}`}, not as qcow2${want === undefined ? '' : ` backed by ${want}`}`, {
          hint: 'Delete the volume first if it is safe to lose its content.',
        }),
      };
    }
    case 'made':
      if (refreshError === undefined) return { ok: true };
      return { ok: false, error: new NodeError(node, `volume ${pool}/${v.volume} was made, but libvirt's pool-refresh failed: ${refreshError}`) };
  }
}

export function defineOutcome(node: string, name: string, result: DefineResult): BatchOutcome {
  if (result.ok) return { ok: true };
  return { ok: false, error: new NodeError(node, `libvirt: define domain ${name} failed: ${result.error}`) };
}

export function removeOutcome(node: string, out: RemoveOutput, item: string, what: string): BatchOutcome {
  if (!out.complete) return { ok: false, error: new NodeError(node, `${what}: the node's answer was cut short; the next apply checks it again`) };
  if (!out.left.has(item)) return { ok: true };
  return { ok: false, error: new NodeError(node, `${what} failed: ${messagesAbout(out.messages, item) || 'it is still there'}`) };
}

/** Section names of a virsh batch are letters and dashes only: the index is written in letters. */
export function sectionKey(prefix: string, index: number): string {
  return `${prefix}-${[...index.toString(26)].map((digit) => String.fromCharCode(97 + parseInt(digit, 26))).join('')}`;
}

export function zip<A, B>(as: readonly A[], bs: readonly B[]): [A, B][] {
  return as.map((a, i) => [a, bs[i] as B]);
}
