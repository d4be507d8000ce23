import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import type { StoreSnapshot } from '../state/store.js';
import { ChecksumCache } from './checksum-cache.js';
import type { DesiredState } from './desired-state.js';
import { hasErrors, type Diagnostic } from './diagnostic.js';
import { parseSpecBytes, parseSpecText, readSpecBytes, type LoadedSpec } from './load-spec.js';
import { preflightFiles } from './preflight-files.js';
import { resolve } from './resolve.js';
import { attachPositions } from './source-positions.js';
import { sortDiagnostics } from './sort-diagnostics.js';
import type { SpecDocument } from './spec-document.js';

export interface ReadSpecOptions {
  /** The store's last state: VMs keep their nodes and addresses from it. */
  readonly snapshot?: StoreSnapshot;
  /**
   * Where the snapshot comes from when it depends on the document itself (the
   * store's location is a setting): called once the document is schema-valid.
   */
  readonly snapshotFor?: (document: SpecDocument) => Promise<StoreSnapshot | undefined>;
  /** Check image sources, boot files and SSH keys on disk. Default true. */
  readonly checkFiles?: boolean;
  /** JSON file remembering image checksums between runs (e.g. .qvd/checksums.json). Default: none. */
  readonly checksumCachePath?: string;
  /** Where env: passwords and url_env are looked up. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface ReadSpecResult {
  /** Present when there is no error (warnings allowed). */
  readonly desired?: DesiredState;
  /** Sorted by position; each with range and excerpt when its place in the file is known. */
  readonly diagnostics: Diagnostic[];
}

/**
 * The one entry point commands use: read qvd.yaml, parse, validate against
 * the schema, check references and values, check files, resolve. Positions
 * are attached at the end and only when there is something to report: a
 * clean spec never pays for the slow YAML parser.
 */
export async function readSpec(file: string, options: ReadSpecOptions = {}): Promise<ReadSpecResult> {
  const read = await readSpecBytes(file);
  if (read.bytes === undefined) return { diagnostics: read.diagnostic === undefined ? [] : [read.diagnostic] };
  return finish(parseSpecBytes(read.bytes, file), file, options);
}

/** readSpec for text already in memory (stdin, tests); `file` names it in messages and anchors relative paths. */
export async function readSpecText(text: string, file: string, options: ReadSpecOptions = {}): Promise<ReadSpecResult> {
  return finish(parseSpecText(text, file), file, options);
}

async function finish(loaded: LoadedSpec, file: string, options: ReadSpecOptions): Promise<ReadSpecResult> {
  const document = loaded.document;
  let diagnostics = loaded.diagnostics;
  let desired: DesiredState | undefined;
  if (document !== undefined) {
    const specDir = dirname(resolvePath(file));
    const snapshot = options.snapshotFor === undefined ? options.snapshot : await options.snapshotFor(document);
    const cache = options.checkFiles === false ? undefined : await ChecksumCache.open(options.checksumCachePath);
    const [files, resolved] = await Promise.all([
      cache === undefined ? Promise.resolve([]) : preflightFiles(document, specDir, cache),
      resolve(document, snapshot, {
        specDir,
        specText: loaded.text,
        env: options.env ?? process.env,
        readFile: (path) => readFileSync(path, 'utf8'),
      }),
    ]);
    await cache?.save();
    diagnostics = [...files, ...resolved.diagnostics];
    if (!hasErrors(diagnostics)) desired = resolved.desired;
  }
  if (diagnostics.length === 0) return desired === undefined ? { diagnostics } : { desired, diagnostics };
  const positioned = sortDiagnostics(attachPositions(loaded.text, file, diagnostics));
  return desired === undefined ? { diagnostics: positioned } : { desired, diagnostics: positioned };
}
