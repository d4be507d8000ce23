import { QvdCommand } from '../cli/base-command.js';
import { specFlag } from '../cli/flags.js';
import { formatDiagnostic } from '../spec/format-diagnostic.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import { openSpec } from '../usecases/open-spec.js';

export interface ValidateResult {
  readonly valid: true;
  readonly file: string;
  readonly counts: { readonly nodes: number; readonly images: number; readonly users: number; readonly vms: number };
  readonly diagnostics: readonly Diagnostic[];
}

export default class Validate extends QvdCommand<typeof Validate> {
  static override summary = 'Check a spec (syntax, schema, references, files) without touching any node.';
  static override description = 'Exit code 0 when valid (warnings allowed), 3 when not; every problem is reported with its file:line:column.';
  static override examples = ['<%= config.bin %> validate -f qvd.yaml', '<%= config.bin %> validate -f qvd.yaml --json'];
  static override flags = { file: specFlag };

  async run(): Promise<ValidateResult> {
    const { desired, warnings, file } = await openSpec(this.flags.file, { withStore: false });
    for (const w of warnings) this.say(formatDiagnostic(w, { color: this.color }));
    const counts = { nodes: desired.nodes.length, images: desired.images.length, users: desired.users.length, vms: desired.vms.length };
    this.say(`${this.flags.file} is valid: ${counts.nodes} node(s), ${counts.images} image(s), ${counts.users} user(s), ${counts.vms} VM(s).`);
    return { valid: true, file, counts, diagnostics: warnings };
  }
}
