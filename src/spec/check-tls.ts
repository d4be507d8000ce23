import { errorAt, type Diagnostic } from './diagnostic.js';
import { readFailure } from './read-failure.js';
import { absolutePath } from './resolve-nodes.js';
import type { SpecDocument } from './spec-document.js';

/**
 * The L7R's certificate and key, when given as files, must exist and be PEM:
 * the original QVD's operators met missing certificates only when clients
 * failed to connect.
 */
export function checkTls(document: SpecDocument, specDir: string, readFile: (path: string) => string): { diagnostics: Diagnostic[]; contents: string[] } {
  const tls = document.settings?.l7r?.tls;
  if (tls === undefined || tls.cert === 'generate' || !('key' in tls)) return { diagnostics: [], contents: [] };
  const diagnostics: Diagnostic[] = [];
  const contents: string[] = [];
  const files = [
    { field: 'cert', path: tls.cert, marker: /-----BEGIN CERTIFICATE-----/, what: 'a PEM certificate' },
    { field: 'key', path: tls.key, marker: /-----BEGIN [A-Z ]*PRIVATE KEY-----/, what: 'a PEM private key' },
  ] as const;
  for (const file of files) {
    const where = ['settings', 'l7r', 'tls', file.field];
    const absolute = absolutePath(specDir, file.path);
    let text: string;
    try {
      text = readFile(absolute);
    } catch (error) {
      diagnostics.push(errorAt(where, `settings.l7r.tls.${file.field}: cannot read ${absolute}: ${readFailure(error)}`, 'Use cert: generate for a self-signed certificate.'));
      continue;
    }
    if (!file.marker.test(text)) diagnostics.push(errorAt(where, `settings.l7r.tls.${file.field}: ${absolute} is not ${file.what}`));
    contents.push(text);
  }
  return { diagnostics, contents };
}
