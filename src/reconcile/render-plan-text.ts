import type { Action, AttributeChange, Change } from './change.js';
import { changeAddress } from './change.js';
import type { Plan } from './plan.js';

export interface TextStyle {
  readonly color: boolean;
}

const SYMBOL: Record<Action, string> = { create: '+', update: '~', 'update-restart': '~!', replace: '-/+', delete: '-' };
const COLOR: Record<Action, number> = { create: 32, update: 33, 'update-restart': 33, replace: 35, delete: 31 };
const MAX_ATTRIBUTES = 12;

/** The human view of a plan (the JSON view is the Plan value itself). */
export function renderPlanText(plan: Plan, style: TextStyle): string {
  const paint = (code: number, s: string): string => (style.color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const bold = (s: string): string => (style.color ? `\u001b[1m${s}\u001b[0m` : s);
  const lines: string[] = [];
  if (plan.changes.length === 0) {
    lines.push(plan.unreachableNodes.length === 0 ? 'No changes. The nodes and the store match the spec.' : 'No changes on the nodes that could be read.');
  } else {
    lines.push('qvd will perform the following actions:', '');
    let group = '';
    for (const c of plan.changes) {
      const g = c.node === undefined ? 'store' : `node ${c.node}`;
      if (g !== group) {
        lines.push(bold(`  # ${g}`));
        group = g;
      }
      const sym = SYMBOL[c.action].padStart(3);
      lines.push(`${paint(COLOR[c.action], sym)} ${describe(c)}  ${paint(90, `(${c.reason})`)}`);
      const shown = c.attributes.slice(0, MAX_ATTRIBUTES);
      for (const a of shown) lines.push(`        ${attribute(a, paint)}`);
      if (c.attributes.length > shown.length) lines.push(`        ... ${c.attributes.length - shown.length} more`);
    }
    lines.push('');
  }
  for (const n of plan.unreachableNodes) lines.push(paint(31, `! node ${n} could not be read: its changes are not in this plan.`));
  const s = plan.summary;
  lines.push(`${bold('Plan:')} ${s.add} to add, ${s.change} to change, ${s.destroy} to destroy.`);
  const restarts = plan.changes.filter((c) => c.action === 'update-restart').length;
  if (restarts > 0) lines.push(paint(33, `${restarts} running VM(s) keep their old definition until their next boot (~!).`));
  if (plan.changes.some((c) => c.kind === 'record' && c.write.kind === 'settings' && c.action === 'update')) {
    lines.push('Running `qvd serve`s take the new settings within seconds of the apply.');
  }
  return lines.join('\n') + '\n';
}

function describe(c: Change): string {
  if (c.kind !== 'record') return changeAddress(c);
  return c.write.kind === 'settings' ? 'settings' : `${c.write.kind} record ${changeAddress(c).split(' ').slice(1).join(' ')}`;
}

function attribute(a: AttributeChange, paint: (code: number, s: string) => string): string {
  const v = (x: unknown): string => (typeof x === 'string' ? JSON.stringify(x) : String(x));
  const forces = a.forcesReplacement === true ? paint(35, '  # forces replacement') : '';
  if (a.before === undefined) return `${paint(32, '+')} ${a.name} = ${v(a.after)}${forces}`;
  if (a.after === undefined) return `${paint(31, '-')} ${a.name} = ${v(a.before)}${forces}`;
  return `${paint(33, '~')} ${a.name}: ${v(a.before)} -> ${v(a.after)}${forces}`;
}
