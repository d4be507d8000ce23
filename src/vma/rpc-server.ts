import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { bearerMatches } from './bearer-auth.js';
import { VMA_METHODS, type VmaErrorBody, type VmaErrorCode, type VmaMethod, type VmaResults } from './vma-api.js';
import { VmaError } from './vma-error.js';
import type { VmaLog } from './vma-log.js';

/** One function per RPC; `params` is the merged query string and JSON body. */
export type VmaHandlers = { readonly [M in VmaMethod]: (params: Readonly<Record<string, unknown>>) => VmaResults[M] | Promise<VmaResults[M]> };

const STATUS: Record<VmaErrorCode, number> = { unauthorized: 401, 'not-found': 404, 'bad-request': 400, conflict: 409, 'not-configured': 503, internal: 500 };
const MAX_BODY = 64 * 1024;

/**
 * HTTP server of the VMA: `/vma/<method>`, JSON in and out, bearer secret on
 * every call. Without a secret it refuses everything (503): an agent that
 * can power the VM off or hand out its desktop must never run open.
 */
export function createVmaServer(handlers: VmaHandlers, secret: () => string | undefined, log: VmaLog): Server {
  return createServer((req, res) => {
    void handle(req, res, handlers, secret(), log);
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, handlers: VmaHandlers, secret: string | undefined, log: VmaLog): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://vma');
  const method = /^\/vma\/([a-z_]+)$/.exec(url.pathname)?.[1];
  try {
    if (req.method !== 'GET' && req.method !== 'POST') throw new VmaError('bad-request', `method ${req.method ?? '?'} not allowed; use POST (or GET)`);
    if (method === undefined || !(VMA_METHODS as readonly string[]).includes(method)) throw new VmaError('not-found', `no such VMA method: ${url.pathname}`);
    if (secret === undefined) throw new VmaError('not-configured', 'this VMA has no secret (kernel parameter qvd.vma_secret missing); it refuses every call');
    if (!bearerMatches(req.headers.authorization, secret)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="qvd-vma"');
      throw new VmaError('unauthorized', 'missing or wrong bearer secret');
    }
    const params: Record<string, unknown> = Object.fromEntries(url.searchParams);
    const body = await readBody(req);
    if (body.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        throw new VmaError('bad-request', 'the body is not JSON');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new VmaError('bad-request', 'the body must be a JSON object');
      Object.assign(params, parsed);
    }
    const handler = handlers[method as VmaMethod] as (p: Record<string, unknown>) => unknown;
    const result = await handler(params);
    send(res, 200, result);
  } catch (e) {
    const err = e instanceof VmaError ? e : new VmaError('internal', (e as Error).message);
    if (err.code === 'internal') log.error(`rpc ${method ?? url.pathname} failed: ${err.message}`);
    else if (err.code !== 'unauthorized') log.warn(`rpc ${method ?? url.pathname}: ${err.message}`);
    const body: VmaErrorBody = { error: { code: err.code, message: err.message } };
    send(res, STATUS[err.code], body);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new VmaError('bad-request', 'body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}
