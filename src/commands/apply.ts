import * as Args from '@oclif/core/args';
import { QvdCommand } from '../cli/base-command.js';
import { applyFlags } from '../cli/flags.js';
import { applyCommandInput, runApplyCommand, type ApplyCommandResult } from '../cli/run-apply-command.js';

export default class Apply extends QvdCommand<typeof Apply> {
  static override summary = 'Make the nodes and the store match the spec (or apply a saved plan exactly).';
  static override description =
    'Takes the state lock, reads the nodes, shows the plan, asks (or --auto-approve), then applies node by node in parallel. ' +
    'A saved plan is refused when the store or the nodes moved since it was made. Exit 0 when everything converged, 1 on any failure.';
  static override examples = ['<%= config.bin %> apply -f qvd.yaml', '<%= config.bin %> apply plan.qvdplan', '<%= config.bin %> apply --auto-approve --target alice-desk'];
  static override args = { planfile: Args.string({ description: 'A plan saved by `qvd plan --out`.', required: false }) };
  static override flags = applyFlags;

  async run(): Promise<ApplyCommandResult> {
    return runApplyCommand(applyCommandInput(this.flags, { color: this.color, json: this.jsonEnabled(), say: (t) => this.say(t) }, false, this.args.planfile));
  }
}
