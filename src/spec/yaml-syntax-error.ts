import type { YAMLError } from 'yaml';
import type { Diagnostic } from './diagnostic.js';
import { MAX_SYNTAX_PASS_BYTES } from './limits.js';
import type { FastSyntaxError } from './parse-yaml-fast.js';
import { yamlModule } from './lazy-yaml.js';
import { TextLines } from './text-lines.js';
import { withExcerpt } from './source-positions.js';

/** Context kept after js-yaml's error position: enough for `yaml` to see the same mistake, little enough to stay fast on garbage. */
const LINES_AFTER_ERROR = 3;
const MAX_CHARS_AFTER_ERROR = 2000;

function cutAfter(text: string, offset: number): string {
  let end = offset;
  for (let i = 0; i <= LINES_AFTER_ERROR && end >= 0; i++) end = text.indexOf('\n', end + (i === 0 ? 0 : 1));
  const lineEnd = end < 0 ? text.length : end + 1;
  return text.slice(0, Math.min(lineEnd, offset + MAX_CHARS_AFTER_ERROR));
}

function firstYamlError(text: string): YAMLError | undefined {
  try {
    const document = yamlModule().parseDocument(text, { uniqueKeys: true, prettyErrors: false });
    return [...document.errors].sort((a, b) => a.pos[0] - b.pos[0])[0];
  } catch {
    return undefined;
  }
}

function wordYamlError(error: YAMLError, text: string): string {
  switch (error.code) {
    case 'DUPLICATE_KEY': {
      const lineEnd = text.indexOf('\n', error.pos[0]);
      const line = text.slice(error.pos[0], lineEnd < 0 ? text.length : lineEnd);
      const key = /^\s*(?:-\s+)?("[^"]*"|'[^']*'|[^:#]+?)\s*:/.exec(line)?.[1];
      return key === undefined ? 'duplicate key' : `duplicate key ${key.startsWith('"') || key.startsWith("'") ? key : JSON.stringify(key)}`;
    }
    case 'MULTIPLE_DOCS':
      return 'the file holds more than one YAML document (a second "---"); qvd.yaml is a single document';
    default:
      return error.message.replace(/\.$/, '');
  }
}

/**
 * The diagnostic for text js-yaml could not read. js-yaml found the error
 * fast; `yaml` words errors better ("Tabs are not allowed as indentation"),
 * so it re-reads the text up to a little past that point, and its first
 * error wins when it has one. Size and depth failures keep js-yaml's word.
 */
export function syntaxErrorDiagnostic(text: string, file: string, error: FastSyntaxError): Diagnostic {
  const lines = new TextLines(text);
  let message = error.message;
  let offsets: readonly [number, number] | undefined = error.offset === undefined ? undefined : [error.offset, error.offset];
  if (error.exhaustion !== true) {
    const prefix = error.offset === undefined ? text : cutAfter(text, error.offset);
    const better = prefix.length <= MAX_SYNTAX_PASS_BYTES ? firstYamlError(prefix) : undefined;
    // The two parsers sometimes blame different lines for one mistake (an
    // over-indented key: js-yaml blames the key, `yaml` the line before);
    // `yaml`'s wording wins only when both agree on the line.
    const sameLine = better !== undefined && (error.offset === undefined || lines.position(better.pos[0]).line === lines.position(error.offset).line);
    if (better !== undefined && sameLine) {
      message = wordYamlError(better, text);
      offsets = [better.pos[0], better.pos[1]];
    }
  }
  // js-yaml reports an unknown tag after the value it decorates: point at the tag.
  if (/^unknown tag/.test(message) && offsets !== undefined) {
    const lineStart = text.lastIndexOf('\n', offsets[0] - 1) + 1;
    const tag = text.slice(lineStart, offsets[0]).search(/!\S*\s+\S*\s*$/);
    if (tag >= 0) offsets = [lineStart + tag, lineStart + tag + (/^!\S*/.exec(text.slice(lineStart + tag))?.[0].length ?? 1)];
    message = `${message} (qvd.yaml is plain YAML 1.2: no tags)`;
  }
  const summary = error.exhaustion === true ? message : `YAML syntax error: ${message}`;
  if (offsets === undefined) return { severity: 'error', summary, range: { file, line: 1, column: 1 } };
  const from = lines.position(offsets[0]);
  const to = lines.position(offsets[1]);
  const range = to.line === from.line && to.column > from.column ? { file, ...from, endLine: to.line, endColumn: to.column } : { file, ...from };
  return withExcerpt({ severity: 'error', summary, range }, lines);
}
