import type { Document, Node, ParsedNode } from 'yaml';
import type { Diagnostic, SourceRange } from './diagnostic.js';
import { excerptAt } from './excerpt.js';
import { MAX_POSITION_PASS_BYTES } from './limits.js';
import { yamlModule } from './lazy-yaml.js';
import { TextLines } from './text-lines.js';

type Offsets = readonly [start: number, end: number];

function offsetsOf(node: Node | null | undefined): Offsets | undefined {
  const range = (node as ParsedNode | null | undefined)?.range;
  return range === undefined || range === null ? undefined : [range[0], range[1]];
}

/** `key:` with nothing after it parses as an empty null scalar: point at the key instead. */
function isEmptyScalar(node: Node | null | undefined): boolean {
  return node === null || node === undefined || (yamlModule().isScalar(node) && node.value === null && (node.source === '' || node.source === undefined));
}

/**
 * The text offsets a diagnostic path designates: the deepest node the path
 * reaches (a missing property's path stops at its mapping, which is where the
 * property belongs). Keys compare as strings, as js-yaml stores them.
 */
function locate(document: Document, path: readonly (string | number)[], target: 'key' | 'value'): Offsets | undefined {
  const { isAlias, isMap, isScalar, isSeq } = yamlModule();
  let node: Node | null | undefined = document.contents;
  let key: Node | undefined;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(segment));
      if (pair === undefined) break;
      key = pair.key as Node;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
      key = undefined;
      node = node.items[segment] as Node | null;
    } else {
      break;
    }
    // An alias stands for its anchor: the alias is where the user can see it used.
    if (isAlias(node)) break;
  }
  if (target === 'key' && key !== undefined) return offsetsOf(key);
  if (isEmptyScalar(node)) return offsetsOf(key) ?? offsetsOf(node);
  return offsetsOf(node) ?? offsetsOf(key);
}

function rangeFromOffsets(lines: TextLines, file: string, [start, end]: Offsets): SourceRange {
  const from = lines.position(start);
  const to = lines.position(Math.max(start, end));
  return to.line === from.line && to.column > from.column
    ? { file, line: from.line, column: from.column, endLine: to.line, endColumn: to.column }
    : { file, line: from.line, column: from.column };
}

/** Adds the source excerpt to a diagnostic that has a range on this text. */
export function withExcerpt(diagnostic: Diagnostic, lines: TextLines): Diagnostic {
  const range = diagnostic.range;
  if (range === undefined || diagnostic.excerpt !== undefined || range.line > lines.lineCount) return diagnostic;
  const endColumn = range.endLine === range.line ? range.endColumn : undefined;
  return { ...diagnostic, excerpt: excerptAt(lines, range.line, range.column, endColumn) };
}

/**
 * Gives every diagnostic that has a path a range and an excerpt, by parsing
 * the text again with `yaml`, whose document model keeps source offsets.
 * This is the slow parser, which is why it only runs once something is
 * wrong; past MAX_POSITION_PASS_BYTES diagnostics keep their paths only.
 */
export function attachPositions(text: string, file: string, diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const needsPosition = diagnostics.some((d) => d.range === undefined && d.path !== undefined);
  const needsExcerpt = diagnostics.some((d) => d.range !== undefined && d.excerpt === undefined);
  if (!needsPosition && !needsExcerpt) return [...diagnostics];
  const lines = new TextLines(text);
  let document: Document | undefined;
  if (needsPosition && text.length <= MAX_POSITION_PASS_BYTES) {
    try {
      document = yamlModule().parseDocument(text, { keepSourceTokens: false, uniqueKeys: false, prettyErrors: false });
    } catch {
      // Positions are a courtesy: without them the diagnostics still stand.
      document = undefined;
    }
  }
  return diagnostics.map((d) => {
    if (d.range !== undefined) return withExcerpt(d, lines);
    if (document === undefined || d.path === undefined) return d;
    const offsets = locate(document, d.path, d.pathTarget ?? 'value');
    if (offsets === undefined) return d;
    const related = d.relatedPath === undefined ? undefined : locate(document, d.relatedPath, 'value');
    const positioned: Diagnostic = { ...d, range: rangeFromOffsets(lines, file, offsets) };
    return withExcerpt(related === undefined ? positioned : { ...positioned, relatedRange: rangeFromOffsets(lines, file, related) }, lines);
  });
}
