/** A source position, 1-based like editors show it. */
export interface SourceRange {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly endLine?: number;
  readonly endColumn?: number;
}

export type Severity = 'error' | 'warning';

/**
 * A problem found in input, as data: collected, not thrown one at a time, so
 * that a user sees every error of a file in one run.
 */
export interface Diagnostic {
  readonly severity: Severity;
  /** One line: what is wrong. */
  readonly summary: string;
  /** More context and what to do about it. */
  readonly detail?: string;
  /** Path of the offending value in the document, e.g. ["vms", 3, "image"]. */
  readonly path?: readonly (string | number)[];
  /**
   * What `range` covers when `path` ends at a mapping entry: its value (the
   * default) or its key (e.g. an unknown property, where the value is irrelevant).
   */
  readonly pathTarget?: 'key' | 'value';
  /** Another place the problem involves, e.g. the first of two duplicates (its path is also named in `detail`). */
  readonly relatedPath?: readonly (string | number)[];
  /** Where relatedPath is in the file (filled in with `range`). */
  readonly relatedRange?: SourceRange;
  readonly range?: SourceRange;
  /** The source line with a caret under the column (filled in when a range is known). */
  readonly excerpt?: string;
  /** Which node this is about, for preflight checks. */
  readonly node?: string;
}

export const hasErrors = (ds: readonly Diagnostic[]): boolean => ds.some((d) => d.severity === 'error');

export const countErrors = (ds: readonly Diagnostic[]): number => ds.filter((d) => d.severity === 'error').length;

/** An error about the value at `path`; `detail` only when there is one (keeps JSON output tidy). */
export function errorAt(path: readonly (string | number)[], summary: string, detail?: string): Diagnostic {
  return detail === undefined ? { severity: 'error', summary, path } : { severity: 'error', summary, detail, path };
}

/** An error that involves two places, e.g. a duplicate name and its first definition. */
export function errorWithRelated(path: readonly (string | number)[], summary: string, detail: string, relatedPath: readonly (string | number)[]): Diagnostic {
  return { severity: 'error', summary, detail, path, relatedPath };
}

export function warningAt(path: readonly (string | number)[], summary: string, detail?: string): Diagnostic {
  return detail === undefined ? { severity: 'warning', summary, path } : { severity: 'warning', summary, detail, path };
}
