import type { Diagnostic } from './diagnostic.js';

/**
 * File order, as a reader goes through the file: whole-file problems first,
 * then by line and column, then those with a path but no known position.
 * Stable, so diagnostics found in one place keep their order.
 */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const rank = (d: Diagnostic): number => (d.range !== undefined ? 1 : d.path === undefined ? 0 : 2);
  return [...diagnostics].sort((a, b) => {
    const byRank = rank(a) - rank(b);
    if (byRank !== 0) return byRank;
    if (a.range !== undefined && b.range !== undefined) return a.range.line - b.range.line || a.range.column - b.range.column;
    return 0;
  });
}
