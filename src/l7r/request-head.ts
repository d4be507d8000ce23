/**
 * The request line and headers of one HTTP/1.1 request, parsed by hand: the
 * L7R speaks a tiny, fixed dialect (GET, no bodies, sequential requests, then
 * an upgrade to a raw pipe on the same socket), and a parser we own keeps the
 * exact bytes of every answer and the socket hand-over under our control.
 */
export interface RequestHead {
  readonly method: string;
  readonly target: string;
  /** Header lines as sent, names unchanged. */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
}

export interface HeadLimits {
  /** Bytes from the request line to the empty line, inclusive. */
  readonly maxHeaderBytes: number;
  readonly maxHeaders: number;
}

export type HeadParse =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'head'; readonly head: RequestHead; readonly consumed: number }
  | { readonly kind: 'error'; readonly status: 400 | 431 | 505; readonly message: string };

const INCOMPLETE: HeadParse = { kind: 'incomplete' };
const LF = 0x0a;
const CR = 0x0d;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) +([^\s]+) +HTTP\/([0-9]+\.[0-9]+) *$/;
/** A request line without a version (HTTP/0.9 style): answered 505 like any other version, as the original did. */
const VERSIONLESS_LINE = /^[A-Z]+ +\/[^\s]* *$/;
// Header values may hold visible ASCII, spaces, tabs and obs-text; never other control bytes.
// eslint-disable-next-line no-control-regex
const BAD_VALUE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** Parse the head at the start of `buffer`, or say more bytes are needed. */
export function parseRequestHead(buffer: Buffer, limits: HeadLimits): HeadParse {
  // RFC 9112 §2.2: empty lines before a request line are ignored.
  let start = 0;
  while (start < buffer.length && (buffer[start] === CR || buffer[start] === LF)) start++;
  if (start === buffer.length) return start > limits.maxHeaderBytes ? tooLarge() : INCOMPLETE;
  // A method starts with a letter: anything else (a TLS record, binary noise) is not HTTP, and waiting for more would only hold the socket.
  const first = buffer[start] ?? 0;
  if (!((first >= 0x41 && first <= 0x5a) || (first >= 0x61 && first <= 0x7a))) return bad('not an HTTP request');

  const firstLineEnd = buffer.indexOf(LF, start);
  if (firstLineEnd === -1) return buffer.length - start > limits.maxHeaderBytes ? tooLarge() : INCOMPLETE;
  const requestLine = lineText(buffer, start, firstLineEnd);
  const match = REQUEST_LINE.exec(requestLine);
  if (match === null) return VERSIONLESS_LINE.test(requestLine) ? versionNotSupported() : bad('malformed request line');

  const end = headEnd(buffer, firstLineEnd);
  if (end === -1) return buffer.length - start > limits.maxHeaderBytes ? tooLarge() : INCOMPLETE;
  if (end - start > limits.maxHeaderBytes) return tooLarge();
  // Only HTTP/1.1 (the reference, and the original server): 1.0 has no upgrade and other keep-alive rules.
  if (match[3] !== '1.1') return versionNotSupported();

  const headers: Array<readonly [string, string]> = [];
  let lineStart = firstLineEnd + 1;
  for (;;) {
    const lineEnd = buffer.indexOf(LF, lineStart);
    const line = lineText(buffer, lineStart, lineEnd);
    lineStart = lineEnd + 1;
    if (line === '') break;
    // obs-fold (a continuation line) is a request smuggling vector; RFC 9112 lets a server reject it.
    if (line.startsWith(' ') || line.startsWith('\t')) return bad('folded header line');
    const colon = line.indexOf(':');
    if (colon <= 0) return bad('malformed header line');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return bad('malformed header name');
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (BAD_VALUE.test(value)) return bad('control character in header value');
    if (headers.length >= limits.maxHeaders) return tooLarge();
    headers.push([name, value]);
  }
  return { kind: 'head', head: { method: match[1] ?? '', target: match[2] ?? '', headers }, consumed: end };
}

/** Index just past the empty line that ends the head, or -1. `from` is the LF of the request line. */
function headEnd(buffer: Buffer, from: number): number {
  let lf = from;
  for (;;) {
    const next = buffer[lf + 1];
    if (next === undefined) return -1;
    if (next === LF) return lf + 2;
    if (next === CR) {
      const after = buffer[lf + 2];
      if (after === undefined) return -1;
      if (after === LF) return lf + 3;
    }
    lf = buffer.indexOf(LF, lf + 1);
    if (lf === -1) return -1;
  }
}

/** The line between `start` and the LF at `lf`, without its CR; latin1 keeps every byte as one char. */
function lineText(buffer: Buffer, start: number, lf: number): string {
  const end = lf > start && buffer[lf - 1] === CR ? lf - 1 : lf;
  return buffer.toString('latin1', start, end);
}

function bad(message: string): HeadParse {
  return { kind: 'error', status: 400, message };
}

function tooLarge(): HeadParse {
  return { kind: 'error', status: 431, message: 'request head too large' };
}

function versionNotSupported(): HeadParse {
  return { kind: 'error', status: 505, message: 'only HTTP/1.1 is supported' };
}

/** The first header with this name, compared case-insensitively (HTTP says names are; the original clients spell them canonically anyway). */
export function headerValue(head: RequestHead, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of head.headers) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** How many headers carry this name. */
export function headerCount(head: RequestHead, name: string): number {
  const wanted = name.toLowerCase();
  let count = 0;
  for (const [key] of head.headers) if (key.toLowerCase() === wanted) count++;
  return count;
}

/** Whether a comma-separated header (Connection) lists `token`. */
export function headerHasToken(head: RequestHead, name: string, token: string): boolean {
  const wanted = token.toLowerCase();
  const wantedName = name.toLowerCase();
  for (const [key, value] of head.headers) {
    if (key.toLowerCase() !== wantedName) continue;
    for (const part of value.split(',')) if (part.trim().toLowerCase() === wanted) return true;
  }
  return false;
}
