import type { Domain, Hypervisor } from '@unraid/libvirt';
import { NodeError } from '../../errors.js';
import type { DomainPower } from '../observed-state.js';
import type { DomainApi } from './domain-api.js';
import { errorMessage, isAlreadyRunning, isConnectionLost, isDomainNotFound, isNotRunning } from './libvirt-errors.js';

/**
 * DomainApi over @unraid/libvirt. One connection per node, opened on first
 * use (the URI may depend on the SSH host key verified just before) and
 * reopened once when libvirtd or the SSH transport dropped it. Every
 * operation looks the domain up again: Domain handles die with their connection.
 */
export class BindingDomainApi implements DomainApi {
  private connection: Promise<Hypervisor> | undefined;

  constructor(
    private readonly node: string,
    /** Resolves the URI to connect to; called for each (re)connect. */
    private readonly uri: () => Promise<string>,
  ) {}

  async state(name: string): Promise<DomainPower | 'absent'> {
    return this.call(`look up domain ${name}`, async (hv) => {
      const domain = await lookup(hv, name);
      if (domain === undefined) return 'absent';
      // Numeric values of virDomainState (the binding's DomainState enum), so the enum need not be loaded here.
      const { state } = await hv.domainGetInfo(domain);
      switch (state as number) {
        case 1: // RUNNING
        case 2: // BLOCKED
          return 'running';
        case 3: // PAUSED
        case 7: // PMSUSPENDED
          return 'paused';
        case 5: // SHUTOFF
          return 'stopped';
        default: // NOSTATE, SHUTDOWN (in progress), CRASHED
          return 'other';
      }
    });
  }

  async uuid(name: string): Promise<string | undefined> {
    return this.call(`look up domain ${name}`, async (hv) => {
      const domain = await lookup(hv, name);
      return domain === undefined ? undefined : hv.domainGetUUIDString(domain);
    });
  }

  async start(name: string): Promise<void> {
    await this.call(`start domain ${name}`, async (hv) => {
      const domain = await lookup(hv, name);
      if (domain === undefined) throw new NodeError(this.node, `cannot start domain ${name}: it is not defined`);
      const { state } = await hv.domainGetInfo(domain);
      if (state === 3 || state === 7) {
        await hv.domainResume(domain);
        return;
      }
      if (state === 1 || state === 2) return;
      try {
        await hv.domainCreate(domain);
      } catch (error) {
        if (!isAlreadyRunning(error)) throw error;
      }
    });
  }

  async shutdown(name: string): Promise<void> {
    await this.call(`shut down domain ${name}`, async (hv) => {
      const domain = await lookup(hv, name);
      if (domain === undefined) return;
      try {
        await hv.domainShutdown(domain);
      } catch (error) {
        if (!isNotRunning(error) && !isDomainNotFound(error)) throw error;
      }
    });
  }

  async destroy(name: string): Promise<void> {
    await this.call(`destroy domain ${name}`, async (hv) => {
      const domain = await lookup(hv, name);
      if (domain === undefined) return;
      try {
        await hv.domainDestroy(domain);
      } catch (error) {
        if (!isNotRunning(error) && !isDomainNotFound(error)) throw error;
      }
    });
  }

  async close(): Promise<void> {
    const pending = this.connection;
    this.connection = undefined;
    const hv = await pending?.catch(() => undefined);
    await hv?.connectClose().catch(() => undefined);
  }

  private async call<T>(what: string, operation: (hv: Hypervisor) => Promise<T>): Promise<T> {
    let reconnected = false;
    for (;;) {
      const hv = await this.open();
      try {
        return await operation(hv);
      } catch (error) {
        if (error instanceof NodeError) throw error;
        if (!reconnected && isConnectionLost(error)) {
          reconnected = true;
          if (this.connection !== undefined) {
            const stale = this.connection;
            this.connection = undefined;
            void stale.then((h) => h.connectClose()).catch(() => undefined);
          }
          continue;
        }
        throw new NodeError(this.node, `libvirt: ${what} failed: ${errorMessage(error)}`, { cause: error });
      }
    }
  }

  private open(): Promise<Hypervisor> {
    if (this.connection === undefined) {
      const attempt = (async () => {
        const uri = await this.uri();
        // Loaded on first use: the native module is not needed by code paths that never reach a real node (the fake).
        const { Hypervisor: HypervisorClass } = await import('@unraid/libvirt');
        const hv = new HypervisorClass({ uri });
        try {
          await hv.connectOpen();
        } catch (error) {
          throw new NodeError(this.node, `cannot connect to libvirt at ${redactUri(uri)}: ${errorMessage(error)}`, {
            hint: 'Check that libvirtd runs on the node and that the SSH user may use it (root, or a member of the libvirt group).',
            cause: error,
          });
        }
        return hv;
      })();
      this.connection = attempt;
      attempt.catch(() => {
        if (this.connection === attempt) this.connection = undefined;
      });
    }
    return this.connection;
  }
}

async function lookup(hv: Hypervisor, name: string): Promise<Domain | undefined> {
  try {
    return await hv.domainLookupByName(name);
  } catch (error) {
    if (isDomainNotFound(error)) return undefined;
    throw error;
  }
}

/** URIs carry key and known_hosts paths only, but keep error lines short. */
function redactUri(uri: string): string {
  return uri.replace(/\?.*$/, '?...');
}
