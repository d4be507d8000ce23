import type { ObservedDomain } from '../drivers/observed-state.js';
import type { DesiredSettings } from '../spec/desired-state.js';
import type { VmView } from '../state/runtime-store.js';

/**
 * What one reconcile of one VM should do, decided from what the store says
 * and what libvirt says right now (level-triggered: the same facts always
 * give the same answer, so a missed or repeated wake-up changes nothing).
 */
export type VmAction =
  | { readonly kind: 'none' }
  /** stopped + command start for this node: take it (CAS → starting), then start. */
  | { readonly kind: 'claim-start' }
  /** starting, domain not running, nothing in flight: (re)do the start. */
  | { readonly kind: 'start' }
  /** starting, domain running, nothing in flight: wait for readiness. */
  | { readonly kind: 'await-ready' }
  | { readonly kind: 'fail-start'; readonly reason: string }
  /** running (or starting) and asked or due to stop: CAS → stopping, then stop. */
  | { readonly kind: 'begin-stop'; readonly reason: string }
  /** stopping or zombie, domain still up, nothing in flight: go on from the phase its age says. */
  | { readonly kind: 'continue-stop' }
  /** The domain is gone: whatever the store said, the VM is stopped. */
  | { readonly kind: 'finish-stop'; readonly reason: string }
  /** Running here while the store says stopped and nobody asked: take it as running. */
  | { readonly kind: 'adopt' }
  /** Running here while the store says it lives on another node. */
  | { readonly kind: 'destroy-stray'; readonly reason: string }
  /** `power: running` placed here and stopped: ask for a start on this node. */
  | { readonly kind: 'request-start'; readonly reason: string }
  /** A stop command for a VM that is not running: drop the command. */
  | { readonly kind: 'drop-command'; readonly reason: string }
  | { readonly kind: 'clear-session'; readonly reason: string };

export interface VmFacts {
  readonly view: VmView;
  /** The VM's domain on this node, if libvirt has one. */
  readonly domain: ObservedDomain | undefined;
  /** A start/stop of this VM is in flight in this process. */
  readonly busy: boolean;
  readonly node: string;
  readonly host: string;
  readonly nowMs: number;
  readonly timers: DesiredSettings['hkd'];
  readonly isProcessAlive: (pid: number) => boolean;
  /** The VM's image runs the agent (and this HKD talks to it). */
  readonly hasVma?: boolean;
}

const isUp = (d: ObservedDomain | undefined): boolean => d !== undefined && (d.power === 'running' || d.power === 'paused');
const ageMs = (iso: string | null, nowMs: number): number => (iso === null ? Infinity : nowMs - Date.parse(iso));

export function decideVm(f: VmFacts): VmAction {
  if (f.busy) return { kind: 'none' };
  const { runtime: r, record } = f.view;
  const up = isUp(f.domain);
  const t = f.timers;

  if (r.node !== f.node) {
    if (up) {
      if (r.node !== null) return { kind: 'destroy-stray', reason: `the store says ${record.name} runs on node ${r.node}` };
      if (r.state === 'stopped' && r.command === null) return { kind: 'adopt' };
      return { kind: 'none' };
    }
    if (r.state === 'stopped' && r.command === null && r.node === null && record.node === f.node && record.power === 'running' && !record.blocked) {
      return { kind: 'request-start', reason: 'power: running' };
    }
    return { kind: 'none' };
  }

  switch (r.state) {
    case 'stopped':
      if (r.command === 'start') return { kind: 'claim-start' };
      if (up) return { kind: 'adopt' };
      if (r.command === 'stop') return { kind: 'drop-command', reason: 'already stopped' };
      return { kind: 'none' };
    case 'starting':
      if (r.command === 'stop') return { kind: 'begin-stop', reason: 'stop requested while starting' };
      if (ageMs(r.stateAt, f.nowMs) > t.startTimeout * 1000) return { kind: 'fail-start', reason: `not ready within start_timeout (${t.startTimeout}s)` };
      return up ? { kind: 'await-ready' } : { kind: 'start' };
    case 'running': {
      if (!up) return { kind: 'finish-stop', reason: 'zombie: the store said running but the domain is gone' };
      if (r.command === 'stop') return { kind: 'begin-stop', reason: 'stop requested' };
      if (record.power === 'stopped') return { kind: 'begin-stop', reason: 'power: stopped' };
      if (f.hasVma === true && r.vmaFailures >= t.vmaMaxFailures && ageMs(r.readyAt ?? r.startedAt, f.nowMs) > t.vmaDeadAfter * 1000) {
        return { kind: 'begin-stop', reason: `dead: its VMA failed ${r.vmaFailures} health checks in a row (vma_max_failures ${t.vmaMaxFailures})` };
      }
      if (record.power === 'on-demand' && r.userState === 'disconnected' && ageMs(r.userStateAt, f.nowMs) > t.idleStop * 1000) {
        return { kind: 'begin-stop', reason: `idle: no session for idle_stop (${t.idleStop}s)` };
      }
      const s = r.session;
      if (s !== null && s.host === f.host && !f.isProcessAlive(s.pid)) return { kind: 'clear-session', reason: `the L7R holding the session (pid ${s.pid}) is gone` };
      if (r.userState === 'connecting' && ageMs(r.userStateAt, f.nowMs) > 2 * t.startTimeout * 1000) return { kind: 'clear-session', reason: 'the session never connected' };
      return { kind: 'none' };
    }
    case 'stopping':
    case 'zombie':
      if (!up) return { kind: 'finish-stop', reason: r.state === 'zombie' ? 'zombie cleaned up: the domain is gone' : 'the domain is off' };
      return { kind: 'continue-stop' };
    case 'debugging':
      // An administrator holds it: hands off.
      return { kind: 'none' };
  }
}

export type StopPhase = 'vma' | 'acpi' | 'destroy';

/**
 * Which stop phase a VM that has been stopping for `elapsedMs` is in: each
 * phase gets stop_timeout, the VMA one only when there is a VMA.
 */
export function stopPhases(elapsedMs: number, stopTimeoutS: number, hasVma: boolean): StopPhase[] {
  const all: StopPhase[] = hasVma ? ['vma', 'acpi', 'destroy'] : ['acpi', 'destroy'];
  const done = Math.max(0, Math.floor(elapsedMs / (stopTimeoutS * 1000)));
  return all.slice(Math.min(done, all.length - 1));
}
