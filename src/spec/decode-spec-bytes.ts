import { isUtf8 } from 'node:buffer';
import type { Diagnostic } from './diagnostic.js';

export type DecodedText =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly diagnostic: Diagnostic; readonly text: string };

/** Byte offset of the first malformed UTF-8 sequence (only called once isUtf8 said there is one). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k++) if (((bytes[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    i += need + 1;
  }
  return bytes.length;
}

function positionOfByte(bytes: Uint8Array, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Bytes to text, refusing what no YAML parser should be shown: invalid UTF-8
 * (binary files, Latin-1 exports) and NUL bytes, each with the place it
 * starts so the user can find it. A leading BOM is dropped.
 */
export function decodeSpecBytes(bytes: Uint8Array, file: string): DecodedText {
  if (!isUtf8(bytes)) {
    const offset = firstInvalidUtf8(bytes);
    const at = positionOfByte(bytes, offset);
    return {
      ok: false,
      text: '',
      diagnostic: {
        severity: 'error',
        summary: `the file is not UTF-8 text (invalid byte 0x${(bytes[offset] ?? 0).toString(16).padStart(2, '0')} at byte ${offset})`,
        detail: 'qvd.yaml must be UTF-8 encoded YAML. Is this the right file?',
        range: { file, ...at },
      },
    };
  }
  let text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    const before = text.slice(0, nul);
    const line = before.split('\n').length;
    const column = nul - before.lastIndexOf('\n');
    return {
      ok: false,
      text,
      diagnostic: {
        severity: 'error',
        summary: 'the file contains a NUL byte; it is not a text file',
        detail: 'qvd.yaml must be UTF-8 encoded YAML. Is this the right file?',
        range: { file, line, column },
      },
    };
  }
  return { ok: true, text };
}
