import { dirname } from 'node:path';
import { ExitCode } from '../errors.js';
import type { Plan } from '../reconcile/plan.js';
import { loadPlanFile, type PlanFile } from '../reconcile/planfile.js';
import { redactPlan } from '../reconcile/redact-plan.js';
import { renderPlanText } from '../reconcile/render-plan-text.js';
import { formatDiagnostic } from '../spec/format-diagnostic.js';
import type { OpenedSpecWithStore } from '../usecases/open-spec.js';
import { openSpecConnecting } from '../usecases/open-spec-connecting.js';
import { DriverPool } from '../drivers/driver-pool.js';
import { runApply, type ApplyOutcome } from '../usecases/run-apply.js';
import { storeConfigOf } from '../usecases/store-location.js';
import { parseDuration } from '../spec/durations.js';
import { InvalidInputError } from '../errors.js';
import { confirm } from './confirm.js';
import { LineReporter } from './line-reporter.js';
import type { ListrReporter } from './listr-reporter.js';
import type { ApplyReporter } from '../reconcile/apply-plan.js';
import { createNodeDrivers } from './node-drivers.js';
import { trace, traced } from '../trace.js';

export interface ApplyCommandInput {
  readonly file: string;
  readonly planFile?: string;
  readonly destroy: boolean;
  readonly purgeHomes: boolean;
  readonly targets: readonly string[];
  readonly parallelism: number;
  readonly lockTimeout: string;
  readonly autoApprove: boolean;
  readonly color: boolean;
  readonly json: boolean;
  readonly say: (text: string) => void;
}

export interface ApplyCommandResult {
  readonly outcome: ApplyOutcome['kind'];
  readonly plan: Plan;
  readonly applied: number;
  readonly failures: readonly { node?: string; change: string; error: string }[];
  readonly serial?: number;
}

/** What `apply` and `destroy` share: open spec or plan file, run, summarise, set the exit code. */
export async function runApplyCommand(input: ApplyCommandInput): Promise<ApplyCommandResult> {
  const lockTimeoutMs = (parseDuration(input.lockTimeout) ?? NaN) * 1000;
  if (!Number.isFinite(lockTimeoutMs)) throw new InvalidInputError(`--lock-timeout ${input.lockTimeout}: not a duration (e.g. 30s, 5m)`);
  let opened: Pick<OpenedSpecWithStore, 'desired' | 'store' | 'warnings'>;
  let saved: PlanFile | undefined;
  let drivers: DriverPool;
  if (input.planFile !== undefined) {
    saved = await loadPlanFile(input.planFile);
    drivers = new DriverPool(createNodeDrivers(saved.specFile));
    // Loaded on demand, as openSpec does: kysely is the largest module of a command, and compiling it overlaps the SSH handshakes there.
    const { openStore } = await import('../state/open-store.js');
    const store = await openStore(storeConfigOf(settingsDatabase(saved), dirname(saved.specFile)));
    opened = { desired: saved.desired, store, warnings: [] };
  } else {
    drivers = new DriverPool(createNodeDrivers(input.file));
    opened = await traced('spec: open (with the store)', () => openSpecConnecting(input.file, drivers, input.targets));
  }
  // Live lines on a terminal (listr2), plain log lines for pipelines and logs.
  const live = process.stdout.isTTY === true && !input.json;
  const lines = new LineReporter((l) => input.say(l), input.color);
  let listr: ListrReporter | undefined;
  const reporter: ApplyReporter = { step: (...a) => (listr ?? lines).step(...a) };
  try {
    for (const w of opened.warnings) input.say(formatDiagnostic(w, { color: input.color }));
    const outcome = await runApply({
      desired: opened.desired,
      store: opened.store,
      drivers,
      options: {
        destroy: saved?.destroy ?? input.destroy,
        purgeHomes: saved?.purgeHomes ?? input.purgeHomes,
        targets: saved?.targets ?? input.targets,
        parallelism: input.parallelism,
      },
      ...(saved === undefined ? {} : { saved }),
      lockTimeoutMs,
      operation: input.destroy ? 'destroy' : 'apply',
      approve: async (plan) => {
        for (const d of plan.diagnostics) input.say(formatDiagnostic(d, { color: input.color }));
        input.say(renderPlanText(plan, { color: input.color }));
        // A saved plan was reviewed when it was made.
        const go = saved !== undefined || (await confirm(input.destroy ? 'Destroy everything above?' : 'Apply these changes?', input.autoApprove, input.json));
        // listr2 loads only for a live view of changes being made.
        if (go && live) listr = new (await import('./listr-reporter.js')).ListrReporter(plan);
        return go;
      },
      reporter,
    });
    await listr?.finish();
    const summary = summarise(outcome, input);
    trace('cli: summary printed');
    return summary;
  } finally {
    await drivers.close();
    await traced('store: close', () => opened.store.close());
  }
}

function summarise(outcome: ApplyOutcome, input: ApplyCommandInput): ApplyCommandResult {
  // The result is what --json prints: no agent secrets in it.
  const plan = redactPlan(outcome.plan);
  const unreachable = plan.unreachableNodes;
  switch (outcome.kind) {
    case 'no-changes':
      input.say(renderPlanText(plan, { color: input.color }));
      if (unreachable.length > 0) {
        process.exitCode = ExitCode.error;
        input.say(`Not converged: node(s) ${unreachable.join(', ')} could not be read.`);
      }
      return { outcome: outcome.kind, plan, applied: 0, failures: [] };
    case 'cancelled':
      input.say('Cancelled: nothing was changed.');
      process.exitCode = ExitCode.error;
      return { outcome: outcome.kind, plan, applied: 0, failures: [] };
    case 'applied': {
      const r = outcome.result;
      const failures = [...r.failures, ...unreachable.map((n) => ({ node: n, change: `node ${n}`, error: 'could not be read; its changes were not applied' }))];
      if (failures.length === 0) {
        input.say(`Apply complete: ${r.applied} change(s) made. State serial ${r.serial}.`);
      } else {
        input.say(`Apply finished with ${failures.length} failure(s); ${r.applied} change(s) made. State serial ${r.serial}.`);
        for (const f of failures) input.say(`  ✗ ${f.node ?? 'store'}: ${f.change}: ${f.error}`);
        input.say('Run `qvd apply` again once the cause is fixed: it picks up exactly the remaining work.');
        process.exitCode = ExitCode.error;
      }
      return { outcome: outcome.kind, plan, applied: r.applied, failures, serial: r.serial };
    }
  }
}

function settingsDatabase(saved: PlanFile): { sqlite: string } | { postgres: { url_env: string } } {
  const db = saved.desired.settings.database;
  return db.kind === 'sqlite' ? { sqlite: db.path } : { postgres: { url_env: db.urlEnv } };
}


/** The flags apply and destroy share, as the input of runApplyCommand. */
export interface ApplyFlagValues {
  readonly file: string;
  readonly 'purge-homes': boolean;
  readonly target: string[];
  readonly parallelism: number;
  readonly 'lock-timeout': string;
  readonly 'auto-approve': boolean;
}

export function applyCommandInput(f: ApplyFlagValues, out: Pick<ApplyCommandInput, 'color' | 'json' | 'say'>, destroy: boolean, planFile?: string): ApplyCommandInput {
  return {
    file: f.file,
    ...(planFile === undefined ? {} : { planFile }),
    destroy,
    purgeHomes: f['purge-homes'],
    targets: f.target,
    parallelism: f.parallelism,
    lockTimeout: f['lock-timeout'],
    autoApprove: f['auto-approve'],
    ...out,
  };
}
