import type { Diagnostic } from './diagnostic.js';
import { formatPath } from './spec-path.js';

export interface FormatDiagnosticOptions {
  /** ANSI colours; callers pass true only for a TTY. */
  readonly color: boolean;
}

/**
 * One diagnostic as compiler-style text:
 *
 *     error: vms[2].power: must be one of on-demand, running, stopped
 *       --> qvd.yaml:41:12
 *        |     power: runing
 *        |            ^^^^^^
 *       Allowed: ...
 */
export function formatDiagnostic(d: Diagnostic, { color }: FormatDiagnosticOptions): string {
  const paint = (code: string, s: string): string => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const label = d.severity === 'error' ? paint('1;31', 'error:') : paint('1;33', 'warning:');
  const out = [`${label} ${paint('1', d.summary)}`];
  if (d.range !== undefined) out.push(`  ${paint('34', '-->')} ${d.range.file}:${d.range.line}:${d.range.column}`);
  else if (d.path !== undefined && d.path.length > 0) out.push(`  ${paint('34', '-->')} ${formatPath(d.path)}`);
  if (d.node !== undefined) out.push(`  ${paint('34', 'on node')} ${d.node}`);
  if (d.excerpt !== undefined) {
    const gutter = paint('34', '   |');
    const [source = '', caret = ''] = d.excerpt.split('\n');
    out.push(`${gutter} ${source}`, `${gutter} ${paint(d.severity === 'error' ? '31' : '33', caret)}`);
  }
  if (d.detail !== undefined) for (const line of d.detail.split('\n')) out.push(`  ${line}`);
  if (d.relatedRange !== undefined) {
    out.push(`  ${paint('34', 'see')} ${d.relatedRange.file}:${d.relatedRange.line}:${d.relatedRange.column}`);
  }
  return out.join('\n');
}
