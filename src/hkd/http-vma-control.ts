import { VmaClient } from '../vma/vma-client.js';
import type { XStateResult } from '../vma/vma-api.js';
import type { VmaControl, VmaTarget } from './vma-control.js';

/** VmaControl over the agent's HTTP RPC (port 3030), one request per call. */
export class HttpVmaControl implements VmaControl {
  constructor(
    /** Per call; the original L7R gives x_start 4 s. */
    private readonly timeoutMs = 4000,
    private readonly port?: number,
  ) {}

  async ping(t: VmaTarget): Promise<void> {
    await this.#client(t).call('ping');
  }

  xState(t: VmaTarget): Promise<XStateResult> {
    return this.#client(t).call('x_state');
  }

  xStart(t: VmaTarget, params: Readonly<Record<string, string>>): Promise<XStateResult> {
    return this.#client(t).call('x_start', params);
  }

  async poweroff(t: VmaTarget): Promise<boolean> {
    await this.#client(t).call('poweroff');
    return true;
  }

  #client(t: VmaTarget): VmaClient {
    return new VmaClient({ host: t.ip, ...(this.port === undefined ? {} : { port: this.port }), secret: t.secret, timeoutMs: this.timeoutMs });
  }
}
