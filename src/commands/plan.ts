import * as Flags from '@oclif/core/flags';
import { QvdCommand } from '../cli/base-command.js';
import { parallelismFlag, purgeHomesFlag, specFlag, targetFlag } from '../cli/flags.js';
import { createNodeDrivers } from '../cli/node-drivers.js';
import { ExitCode } from '../errors.js';
import { DriverPool } from '../drivers/driver-pool.js';
import type { Plan as PlanValue } from '../reconcile/plan.js';
import { savePlanFile } from '../reconcile/planfile.js';
import { redactPlan } from '../reconcile/redact-plan.js';
import { renderPlanText } from '../reconcile/render-plan-text.js';
import { formatDiagnostic } from '../spec/format-diagnostic.js';
import { openSpecConnecting } from '../usecases/open-spec-connecting.js';
import { planNodes } from '../usecases/plan-nodes.js';

export default class Plan extends QvdCommand<typeof Plan> {
  static override summary = 'Show what apply would change on the nodes and in the store.';
  static override description =
    'Reads every node (one batched round trip each), compares with the spec and prints the changes. Changes nothing. ' +
    'Exit codes: 0 ok, 1 error (a node unreadable or failing a preflight check), 2 changes pending (with --detailed-exitcode), 3 invalid spec.';
  static override examples = ['<%= config.bin %> plan -f qvd.yaml', '<%= config.bin %> plan -f qvd.yaml --out plan.qvdplan', '<%= config.bin %> plan --json --detailed-exitcode'];
  static override flags = {
    file: specFlag,
    out: Flags.string({ char: 'o', description: 'Save the plan to apply exactly it later with `qvd apply FILE`.', helpValue: 'FILE' }),
    'detailed-exitcode': Flags.boolean({ description: 'Exit 2 when there are changes, 0 when none.' }),
    destroy: Flags.boolean({ description: 'Plan the removal of everything the spec manages.' }),
    target: targetFlag,
    'purge-homes': purgeHomesFlag,
    parallelism: parallelismFlag,
  };

  async run(): Promise<PlanValue> {
    const f = this.flags;
    const drivers = new DriverPool(createNodeDrivers(f.file));
    const opened = await openSpecConnecting(f.file, drivers, f.target);
    try {
      for (const w of opened.warnings) this.say(formatDiagnostic(w, { color: this.color }));
      const options = { destroy: f.destroy, purgeHomes: f['purge-homes'], targets: f.target, parallelism: f.parallelism };
      const plan = await planNodes(opened.desired, opened.snapshot, drivers, options);
      for (const d of plan.diagnostics) this.say(formatDiagnostic(d, { color: this.color }));
      this.say(renderPlanText(plan, { color: this.color }));
      if (f.out !== undefined) {
        await savePlanFile(f.out, { plan, desired: opened.desired, destroy: f.destroy, purgeHomes: f['purge-homes'], targets: f.target, specFile: opened.file });
        this.say(`Saved the plan to ${f.out}. Apply exactly it with: qvd apply ${f.out}`);
      }
      if (plan.diagnostics.some((d) => d.severity === 'error')) process.exitCode = ExitCode.error;
      else if (f['detailed-exitcode'] && plan.changes.length > 0) process.exitCode = ExitCode.changesPending;
      return redactPlan(plan);
    } finally {
      await drivers.close();
      await opened.store.close();
    }
  }
}
