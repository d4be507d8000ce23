import type { VmaControl, VmaTarget } from '../../../src/hkd/vma-control.js';
import type { XState, XStateResult } from '../../../src/vma/vma-api.js';
import type { FakeNodeDriver } from './fake-node-driver.js';

/**
 * The agents of a FakeNodeDriver's VMs: answers while `alive`, checks the
 * secret, keeps one X state per VM (x_start goes to `listening` after
 * `listenAfterPolls` x_state calls), and poweroff turns the domain off.
 */
export class FakeVma implements VmaControl {
  readonly calls: string[] = [];
  alive = true;
  listenAfterPolls = 2;
  /** x_start answers this error instead (e.g. the session cannot start). */
  failSession: string | undefined;
  readonly secrets = new Map<string, string>();
  readonly x = new Map<string, { state: XState; since: string; user?: string; polls: number; cookie?: string }>();

  constructor(private readonly driver?: FakeNodeDriver) {}

  async ping(t: VmaTarget): Promise<void> {
    this.#check(t, 'ping');
  }

  async xState(t: VmaTarget): Promise<XStateResult> {
    this.#check(t, 'x_state');
    const s = this.#session(t.vm);
    if (s.state === 'starting' && ++s.polls >= this.listenAfterPolls) this.set(t.vm, this.failSession === undefined ? 'listening' : 'stopped');
    return this.#result(t.vm);
  }

  async xStart(t: VmaTarget, params: Readonly<Record<string, string>>): Promise<XStateResult> {
    this.#check(t, `x_start ${JSON.stringify(params)}`);
    const s = this.#session(t.vm);
    s.polls = 0;
    s.cookie = params['cookie'];
    if (params['user'] !== undefined) s.user = params['user'];
    this.set(t.vm, 'starting');
    return this.#result(t.vm);
  }

  async poweroff(t: VmaTarget): Promise<boolean> {
    this.#check(t, 'poweroff');
    const d = this.driver?.domains.get(`qvd-${t.vm}`);
    if (d !== undefined) d.power = 'stopped';
    return true;
  }

  set(vm: string, state: XState): void {
    const s = this.#session(vm);
    s.state = state;
    s.since = new Date().toISOString();
  }

  #session(vm: string) {
    let s = this.x.get(vm);
    if (s === undefined) {
      s = { state: 'stopped', since: new Date().toISOString(), polls: 0 };
      this.x.set(vm, s);
    }
    return s;
  }

  #result(vm: string): XStateResult {
    const s = this.#session(vm);
    return { state: s.state, since: s.since, display: 100, agentRestarts: 0, ...(s.user === undefined ? {} : { user: s.user }), ...(s.state === 'stopped' && this.failSession !== undefined ? { lastError: this.failSession } : {}) };
  }

  #check(t: VmaTarget, call: string): void {
    this.calls.push(`${t.vm} ${call.split(' ')[0]}`);
    if (!this.alive) throw new Error('VMA ping: connect ECONNREFUSED');
    const want = this.secrets.get(t.vm);
    if (want !== undefined && want !== t.secret) throw new Error('VMA: unauthorized');
  }
}
