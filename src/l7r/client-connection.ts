import type { Logger } from 'pino';
import type { TLSSocket } from 'node:tls';
import { textResponse } from './http-response.js';
import type { AuthenticatedUser } from './l7r-backend.js';
import type { L7rLimits } from './l7r-limits.js';
import { parseRequestHead, type RequestHead } from './request-head.js';

/** What a request handler did to the connection. */
export type RequestResult = 'keep' | 'close' | 'upgraded';

export type RequestHandler = (connection: ClientConnection, head: RequestHead, receivedAt: bigint) => Promise<RequestResult>;

export interface ClientConnectionOptions {
  readonly limits: L7rLimits;
  readonly logger: Logger;
  readonly handler: RequestHandler;
  readonly isDraining: () => boolean;
  readonly onClose: (connection: ClientConnection) => void;
}

/** The credentials a connection last proved, so list-then-connect checks one password, not two. */
export interface AuthMemo {
  readonly fingerprint: string;
  readonly user: AuthenticatedUser;
  readonly scheme: 'basic' | 'bearer';
  readonly at: number;
}

const EMPTY = Buffer.alloc(0);
const noop = (): void => undefined;

/**
 * One client TLS connection in its HTTP phase: reads requests one after the
 * other (the original client sends the list request and then the connect
 * request on the same connection), keeps the connection open after each
 * answer unless told otherwise, and hands the socket over when a request
 * upgrades it to a tunnel.
 *
 * Timers: from the first byte of a request until its head is complete
 * (`requestTimeoutMs`, slow-loris), and between requests (`idleTimeoutMs`).
 */
export class ClientConnection {
  readonly ip: string;
  authMemo: AuthMemo | undefined;
  /**
   * Made on first use of `signal`: an AbortSignal is an EventTarget, costly
   * to create and to listen on, and most requests never need one (see `onGone`).
   */
  private gone: AbortController | undefined;
  private isGone = false;
  private goneHooks: Set<() => void> | undefined;
  private buffered: Buffer = EMPTY;
  private busy = false;
  private detached = false;
  private peerEnded = false;
  private timer: NodeJS.Timeout | undefined;
  private timerKind: 'idle' | 'request' | undefined;

  constructor(
    readonly socket: TLSSocket,
    private readonly options: ClientConnectionOptions,
  ) {
    this.ip = normaliseAddress(socket.remoteAddress);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.once('close', () => {
      this.markGone();
      this.clearTimer();
      options.onClose(this);
    });
    this.armTimer('idle');
  }

  private childLog: Logger | undefined;

  /** Made on first use: most connections log nothing at the configured level, and a pino child per connection costs. */
  get log(): Logger {
    this.childLog ??= this.options.logger.child({ ip: this.ip, port: this.socket.remotePort });
    return this.childLog;
  }

  /** Aborted when the client goes away (FIN, reset, timeout, shutdown). */
  get signal(): AbortSignal {
    if (this.gone === undefined) {
      this.gone = new AbortController();
      if (this.isGone) this.gone.abort();
    }
    return this.gone.signal;
  }

  get closed(): boolean {
    return this.isGone || this.socket.destroyed;
  }

  /**
   * `hook` runs (synchronously, once) when the client goes away, as an
   * 'abort' listener on `signal` would, without making the signal; not when
   * it is gone already. Returns the function that removes it.
   */
  onGone(hook: () => void): () => void {
    if (this.isGone) return noop;
    this.goneHooks ??= new Set();
    this.goneHooks.add(hook);
    return () => this.goneHooks?.delete(hook);
  }

  private markGone(): void {
    if (this.isGone) return;
    this.isGone = true;
    this.gone?.abort();
    const hooks = this.goneHooks;
    this.goneHooks = undefined;
    if (hooks !== undefined) for (const hook of hooks) hook();
  }

  /** Neither handling a request nor a tunnel: safe to close on shutdown. */
  get idle(): boolean {
    return !this.busy && !this.detached;
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(data);
  }

  /** Answer, then close our side; a peer that never closes its side is cut after a grace period. */
  endWith(data?: string): void {
    this.clearTimer();
    if (this.socket.destroyed) return;
    if (data === undefined) this.socket.end();
    else this.socket.end(data);
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /**
   * Stop reading HTTP: the socket now belongs to a tunnel. Returns bytes the
   * client sent after the request that upgraded (they are tunnel payload).
   */
  detach(): Buffer {
    this.detached = true;
    this.clearTimer();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
    const rest = this.buffered;
    this.buffered = EMPTY;
    return rest;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    if (this.busy) {
      // Requests are sequential; a client racing ahead is buffered, up to a bound.
      if (this.buffered.length > this.options.limits.maxBufferedBytes) this.socket.pause();
      return;
    }
    this.pump();
  };

  private readonly onEnd = (): void => {
    this.peerEnded = true;
    // A client that stops sending while a VM is prepared for it has given up (the original client never half-closes).
    this.markGone();
    if (!this.busy) this.endWith();
  };

  private readonly onError = (error: Error): void => {
    this.log.debug({ err: error }, 'client socket error');
  };

  private pump(): void {
    if (this.busy || this.detached || this.closed) return;
    if (this.buffered.length === 0) {
      this.armTimer('idle');
      return;
    }
    const parsed = parseRequestHead(this.buffered, this.options.limits);
    if (parsed.kind === 'incomplete') {
      if (this.timerKind !== 'request') this.armTimer('request');
      return;
    }
    if (parsed.kind === 'error') {
      this.log.info({ status: parsed.status, reason: parsed.message }, 'bad request; closing');
      this.endWith(textResponse(parsed.status, `${parsed.message}`, [['Connection', 'close']]));
      return;
    }
    this.buffered = this.buffered.subarray(parsed.consumed);
    this.clearTimer();
    this.busy = true;
    const receivedAt = process.hrtime.bigint();
    this.options.handler(this, parsed.head, receivedAt).then(
      (result) => this.afterRequest(result),
      (error: unknown) => {
        this.log.error({ err: error }, 'request handler failed');
        this.endWith(textResponse(500, 'Internal Server Error', [['Connection', 'close']]));
      },
    );
  }

  private afterRequest(result: RequestResult): void {
    this.busy = false;
    if (result === 'upgraded') return;
    if (result === 'close' || this.peerEnded || this.options.isDraining()) {
      this.endWith();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    this.pump();
  }

  private armTimer(kind: 'idle' | 'request'): void {
    this.clearTimer();
    this.timerKind = kind;
    const ms = kind === 'idle' ? this.options.limits.idleTimeoutMs : this.options.limits.requestTimeoutMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (kind === 'idle') {
        this.log.debug('idle connection closed');
        this.endWith();
      } else {
        this.log.info({ buffered: this.buffered.length }, 'request not completed in time; closing');
        this.endWith(textResponse(408, 'Request Timeout', [['Connection', 'close']]));
      }
    }, ms);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerKind = undefined;
  }
}

/** `::ffff:10.0.0.1` is 10.0.0.1: one client must not count as two for throttling. */
function normaliseAddress(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
