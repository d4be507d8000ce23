import { request } from 'node:http';
import { VMA_PORT, type VmaErrorBody, type VmaMethod, type VmaResults, type XState, type XStateResult } from './vma-api.js';

export interface VmaClientOptions {
  /** Guest address (reachable from the node only). */
  readonly host?: string;
  readonly port?: number;
  /** Talk through a Unix socket instead (e.g. a relay into a node's network namespace). */
  readonly socketPath?: string;
  readonly secret: string;
  /** Per call; default 4 s, the original L7R's x_start timeout. */
  readonly timeoutMs?: number;
}

/** A VMA call that did not succeed: `status` 0 when no HTTP answer came at all. */
export class VmaCallError extends Error {
  constructor(
    readonly method: VmaMethod,
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`VMA ${method}: ${message}`);
    this.name = 'VmaCallError';
  }
}

/** The node side of the VMA RPC (HKD, L7R): one POST per call, JSON both ways. */
export class VmaClient {
  constructor(private readonly o: VmaClientOptions) {}

  call<M extends VmaMethod>(method: M, params: Readonly<Record<string, unknown>> = {}, timeoutMs = this.o.timeoutMs ?? 4000): Promise<VmaResults[M]> {
    const body = JSON.stringify(params);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          ...(this.o.socketPath === undefined ? { host: this.o.host, port: this.o.port ?? VMA_PORT } : { socketPath: this.o.socketPath }),
          method: 'POST',
          path: `/vma/${method}`,
          headers: { Authorization: `Bearer ${this.o.secret}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              reject(new VmaCallError(method, res.statusCode ?? 0, 'bad-answer', `HTTP ${res.statusCode ?? '?'} with a body that is not JSON`));
              return;
            }
            if (res.statusCode === 200) resolve(json as VmaResults[M]);
            else {
              const err = (json as Partial<VmaErrorBody>).error;
              reject(new VmaCallError(method, res.statusCode ?? 0, err?.code ?? 'unknown', err?.message ?? `HTTP ${res.statusCode ?? '?'}`));
            }
          });
          res.on('error', (e) => reject(new VmaCallError(method, 0, 'network', e.message)));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (e) => reject(new VmaCallError(method, 0, 'network', e.message)));
      req.end(body);
    });
  }

  /**
   * Polls x_state until it is one of `states` (the original L7R waits up to
   * 10 s for `listening`). Fails early when the session fell back to stopped
   * with an error, since it will not get there by itself.
   */
  async waitForXState(states: readonly XState[], timeoutMs = 10_000, intervalMs = 250): Promise<XStateResult> {
    const deadline = Date.now() + timeoutMs;
    let last: XStateResult | undefined;
    for (;;) {
      try {
        last = await this.call('x_state');
        if (states.includes(last.state)) return last;
        if (last.state === 'stopped' && last.lastError !== undefined && !states.includes('stopped')) {
          throw new VmaCallError('x_state', 200, 'session-failed', `the X session stopped: ${last.lastError}`);
        }
      } catch (e) {
        if (e instanceof VmaCallError && e.code === 'session-failed') throw e;
        if (Date.now() >= deadline) throw e;
      }
      if (Date.now() >= deadline) throw new VmaCallError('x_state', 200, 'timeout', `x_state is ${last?.state ?? 'unknown'}, not ${states.join('/')}, after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
