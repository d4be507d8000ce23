import { TcpPortProbe, type ProbeTarget, type ReadinessProbe } from './readiness-probe.js';
import type { VmaControl } from './vma-control.js';

/**
 * A VM with an agent is ready when the agent answers `ping`: nxagent only
 * listens once a session is started through the agent (x_start), and poking
 * its port beforehand could even end it (a failed NX handshake). A VM
 * without one (an image booting its own kernel, or `vma: false`) is ready
 * when its NX port accepts a connection.
 */
export class AgentReadinessProbe implements ReadinessProbe {
  constructor(
    private readonly vma: VmaControl,
    private readonly fallback: ReadinessProbe = new TcpPortProbe(),
  ) {}

  async ready(target: ProbeTarget, signal?: AbortSignal): Promise<boolean> {
    if (target.vmaSecret === undefined) return this.fallback.ready(target, signal);
    if (signal?.aborted === true) return false;
    try {
      await this.vma.ping({ vm: target.vm, ip: target.ip, secret: target.vmaSecret });
      return true;
    } catch {
      return false;
    }
  }
}
