import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HkdMetrics } from '../hkd/hkd-metrics.js';
import { createL7rMetrics, type L7rMetrics } from '../l7r/l7r-metrics.js';

export interface ServeMetrics {
  readonly registry: Registry;
  readonly hkd: HkdMetrics;
  readonly l7r: L7rMetrics;
  readonly backend: { prepared(result: 'ok' | 'failed', seconds: number): void };
}

/**
 * One registry per serve process: the L7R's own metrics (sessions, connects,
 * time to 101, tunnel bytes) plus VM starts, their latency and failures.
 */
export function createServeMetrics(): ServeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'qvd_serve_' });
  const starts = new Counter({ name: 'qvd_vm_starts_total', help: 'VM starts by this node\'s HKD, by result', labelNames: ['result'] as const, registers: [registry] });
  const startSeconds = new Histogram({
    name: 'qvd_vm_start_seconds',
    help: 'From the start request to the VM being ready (its desktop port answers)',
    labelNames: ['result'] as const,
    buckets: [1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 270],
    registers: [registry],
  });
  const stops = new Counter({ name: 'qvd_vm_stops_total', help: 'VM stops by this node\'s HKD, by how the domain went down', labelNames: ['how'] as const, registers: [registry] });
  const failures = new Counter({ name: 'qvd_hkd_failures_total', help: 'HKD failures by kind', labelNames: ['kind'] as const, registers: [registry] });
  const prepare = new Histogram({
    name: 'qvd_prepare_vm_seconds',
    help: 'prepareVm (L7R connect, before the 101), by result',
    labelNames: ['result'] as const,
    buckets: [0.05, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 270],
    registers: [registry],
  });
  return {
    registry,
    l7r: createL7rMetrics(registry),
    hkd: {
      vmStarted(result, seconds) {
        starts.inc({ result });
        startSeconds.observe({ result }, seconds);
      },
      vmStopped(how) {
        stops.inc({ how });
      },
      failure(kind) {
        failures.inc({ kind });
      },
    },
    backend: {
      prepared(result, seconds) {
        prepare.observe({ result }, seconds);
      },
    },
  };
}
