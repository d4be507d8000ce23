import { QvdCommand } from '../cli/base-command.js';
import { applyFlags } from '../cli/flags.js';
import { applyCommandInput, runApplyCommand, type ApplyCommandResult } from '../cli/run-apply-command.js';

export default class Destroy extends QvdCommand<typeof Destroy> {
  static override summary = 'Remove everything the spec manages from its nodes and the store (home disks only with --purge-homes).';
  static override examples = ['<%= config.bin %> destroy -f qvd.yaml', '<%= config.bin %> destroy --auto-approve --purge-homes'];
  static override flags = applyFlags;

  async run(): Promise<ApplyCommandResult> {
    return runApplyCommand(applyCommandInput(this.flags, { color: this.color, json: this.jsonEnabled(), say: (t) => this.say(t) }, true));
  }
}
