import { open } from 'node:fs/promises';
import { ajvErrorsToDiagnostics, describeValue } from './ajv-diagnostics.js';
import { decodeSpecBytes } from './decode-spec-bytes.js';
import type { Diagnostic } from './diagnostic.js';
import { MAX_SPEC_BYTES } from './limits.js';
import { parseYamlFast } from './parse-yaml-fast.js';
import { rootSchema, schemaErrors } from './schema-validator.js';
import { attachPositions } from './source-positions.js';
import { sortDiagnostics } from './sort-diagnostics.js';
import type { SpecDocument } from './spec-document.js';
import { syntaxErrorDiagnostic } from './yaml-syntax-error.js';

export interface LoadSpecOptions {
  /** Refuse larger files before reading them. Default 16 MiB. */
  readonly maxBytes?: number;
}

export interface LoadedSpec {
  /** Present when the file is valid YAML that conforms to the schema. */
  readonly document?: SpecDocument;
  readonly diagnostics: Diagnostic[];
  /** The decoded text ('' when it could not be read), for positions and the spec hash. */
  readonly text: string;
}

const fileDiagnostic = (file: string, summary: string, detail?: string): Diagnostic =>
  detail === undefined
    ? { severity: 'error', summary, range: { file, line: 1, column: 1 } }
    : { severity: 'error', summary, detail, range: { file, line: 1, column: 1 } };

/**
 * Text to document, without positions: js-yaml, then the schema. Positions
 * are added by the caller once all checks have run, so the slow `yaml` pass
 * happens at most once and only when something is wrong.
 */
export function parseSpecText(text: string, file: string): LoadedSpec {
  const parsed = parseYamlFast(text, file);
  if (!parsed.ok) return { diagnostics: [syntaxErrorDiagnostic(text, file, parsed.error)], text };
  const value = parsed.value;
  if (value === undefined || value === null) {
    return {
      diagnostics: [fileDiagnostic(file, 'the file is empty', 'qvd.yaml needs at least version: 1, nodes and images; see examples/qvd.yaml.')],
      text,
    };
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    return {
      diagnostics: [
        {
          severity: 'error',
          summary: `the document must be a mapping (found ${describeValue(value)})`,
          detail: 'qvd.yaml is a mapping with the keys version, settings, nodes, images, users and vms.',
          path: [],
        },
      ],
      text,
    };
  }
  const errors = schemaErrors(value);
  if (errors.length > 0) return { diagnostics: ajvErrorsToDiagnostics(errors, rootSchema()), text };
  return { document: value as SpecDocument, diagnostics: [], text };
}

/** Bytes to document, without positions (see parseSpecText). */
export function parseSpecBytes(bytes: Uint8Array, file: string, options: LoadSpecOptions = {}): LoadedSpec {
  const maxBytes = options.maxBytes ?? MAX_SPEC_BYTES;
  if (bytes.length > maxBytes) return { diagnostics: [tooBig(file, bytes.length, maxBytes)], text: '' };
  const decoded = decodeSpecBytes(bytes, file);
  if (!decoded.ok) return { diagnostics: [decoded.diagnostic], text: decoded.text };
  return parseSpecText(decoded.text, file);
}

const tooBig = (file: string, size: number, maxBytes: number): Diagnostic =>
  fileDiagnostic(
    file,
    `the file is too large (${size} bytes; at most ${maxBytes} bytes are read)`,
    'A qvd.yaml of 10,000 VMs is about 1.3 MB. Is this the right file?',
  );

/** Reads the file, refusing oversized ones from their size alone. */
export async function readSpecBytes(file: string, options: LoadSpecOptions = {}): Promise<{ bytes?: Uint8Array; diagnostic?: Diagnostic }> {
  const maxBytes = options.maxBytes ?? MAX_SPEC_BYTES;
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String((error as Error).message);
    return { diagnostic: { severity: 'error', summary: `cannot read ${file}: ${reason}` } };
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) return { diagnostic: { severity: 'error', summary: `cannot read ${file}: it is a directory` } };
    if (stat.size > maxBytes) return { diagnostic: tooBig(file, stat.size, maxBytes) };
    // Read at most one byte past the limit whatever stat said: a file that
    // grows, a pipe or /dev/zero cannot make us read more.
    let buffer = Buffer.alloc(Math.min(maxBytes + 1, Math.max(stat.size + 1, 64 * 1024)));
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (buffer.length > maxBytes) break;
        const bigger = Buffer.alloc(Math.min(maxBytes + 1, buffer.length * 2));
        buffer.copy(bigger, 0, 0, length);
        buffer = bigger;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) return { diagnostic: tooBig(file, length, maxBytes) };
    return { bytes: buffer.subarray(0, length) };
  } catch (error) {
    return { diagnostic: { severity: 'error', summary: `cannot read ${file}: ${(error as Error).message}` } };
  } finally {
    await handle.close();
  }
}

/**
 * Reads and validates qvd.yaml (syntax and schema; cross-references are
 * readSpec's job). Never throws for bad input: every problem is a
 * diagnostic, with its position in the file when one is known.
 */
export async function loadSpec(file: string, options: LoadSpecOptions = {}): Promise<LoadedSpec> {
  const read = await readSpecBytes(file, options);
  if (read.bytes === undefined) return { diagnostics: read.diagnostic === undefined ? [] : [read.diagnostic], text: '' };
  const loaded = parseSpecBytes(read.bytes, file, options);
  if (loaded.diagnostics.length === 0) return loaded;
  return { ...loaded, diagnostics: sortDiagnostics(attachPositions(loaded.text, file, loaded.diagnostics)) };
}
