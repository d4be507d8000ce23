/** What the HKD counts; serve wires it to Prometheus, tests leave it out. */
export interface HkdMetrics {
  vmStarted(result: 'ok' | 'failed', seconds: number): void;
  vmStopped(how: 'vma' | 'acpi' | 'destroy' | 'gone'): void;
  failure(kind: 'start' | 'stop' | 'zombie' | 'observe' | 'pass'): void;
}

export const noHkdMetrics: HkdMetrics = {
  vmStarted: () => undefined,
  vmStopped: () => undefined,
  failure: () => undefined,
};
