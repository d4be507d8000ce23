import { reasonPhrase } from './http-status.js';

/** Header lines in the order and spelling they go on the wire (clients look names up case-sensitively). */
export type HeaderLines = ReadonlyArray<readonly [name: string, value: string]>;

/** A status line and headers, ending with the empty line; no body. */
export function responseHead(status: number, headers: HeaderLines = []): string {
  let head = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
  for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
  return `${head}\r\n`;
}

/**
 * A complete response with a body. `Content-Length` is always exact and
 * spelled so: the original client reads a body only when it finds that
 * exact header name, and never understands chunked encoding.
 */
export function responseWithBody(status: number, contentType: string, body: string, headers: HeaderLines = []): string {
  return responseHead(status, [...headers, ['Content-Type', contentType], ['Content-Length', String(Buffer.byteLength(body, 'utf8'))]]) + body;
}

export function textResponse(status: number, body: string, headers: HeaderLines = []): string {
  return responseWithBody(status, 'text/plain', body, headers);
}

export function jsonResponse(status: number, value: unknown, headers: HeaderLines = []): string {
  return responseWithBody(status, 'application/json', JSON.stringify(value), headers);
}

/** Interim `102 Processing` with the progress text the client shows; header values cannot hold line breaks. */
export function processingResponse(info: string): string {
  return responseHead(102, [['X-QVD-VM-Info', headerSafe(info)]]);
}

/** Control characters (CR and LF above all) would split the header: they become spaces. */
export function headerSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}
