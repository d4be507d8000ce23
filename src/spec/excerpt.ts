import type { TextLines } from './text-lines.js';

/** Long lines (minified or garbage input) are cut around the column so the excerpt stays one screen wide. */
const MAX_EXCERPT_WIDTH = 120;

/**
 * The source line and a caret line under `column` (spanning to `endColumn` on
 * the same line). Tabs are copied into the caret line so the caret stays
 * aligned whatever the terminal's tab width.
 */
export function excerptAt(lines: TextLines, line: number, column: number, endColumn?: number): string {
  let source = lines.lineText(line);
  let start = column - 1;
  let width = Math.max(1, Math.min((endColumn ?? column + 1) - column, source.length - start));
  if (source.length > MAX_EXCERPT_WIDTH) {
    const from = Math.max(0, start - MAX_EXCERPT_WIDTH / 2);
    const cut = source.slice(from, from + MAX_EXCERPT_WIDTH);
    source = (from > 0 ? '…' : '') + cut + (from + MAX_EXCERPT_WIDTH < lines.lineText(line).length ? '…' : '');
    start = start - from + (from > 0 ? 1 : 0);
    width = Math.max(1, Math.min(width, source.length - start));
  }
  const printable = source.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '\uFFFD');
  const pad = printable.slice(0, start).replace(/[^\t]/g, ' ');
  return `${printable}\n${pad}${'^'.repeat(width)}`;
}
