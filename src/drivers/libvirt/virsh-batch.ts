import { NodeError } from '../../errors.js';
import type { CommandRunner } from '../exec/command-runner.js';
import { isVirshSafeName, newMarkerToken } from './observe-script.js';
import { splitSections } from './observe-output.js';

/**
 * Several read-only virsh commands in one process and one libvirtd
 * connection (virsh's `cmd1; cmd2` batch mode), each output found under its
 * key. A failing command leaves its output empty and the rest still runs.
 * Commands are virsh syntax: every name in them must pass assertVirshName.
 */
export async function virshBatch(runner: CommandRunner, uri: string, commands: readonly { readonly key: string; readonly command: string }[]): Promise<Map<string, string>> {
  const token = newMarkerToken();
  const batch = commands.map(({ key, command }) => `echo '\n@@qvd:${token}:${key}:@@\n'; ${command};`).join(' ');
  const result = await runner.run(['virsh', '-q', '-c', uri, batch], { okExitCodes: [0, 1] });
  const out = new Map<string, string>();
  for (const section of splitSections(result.stdout, token)) out.set(section.kind, section.body);
  if (!out.has(commands[0]?.key ?? '')) {
    throw new NodeError(runner.node, `virsh did not answer: ${result.stderr.trim() || 'no output'}`, { hint: 'Check that libvirtd runs on the node.' });
  }
  return out;
}

/** Names go into virsh's own command parser (batches) unquoted: only a plain character set is allowed. */
export function assertVirshName(node: string, what: string, name: string): void {
  if (!isVirshSafeName(name)) {
    throw new NodeError(node, `${what} name ${JSON.stringify(name)} is not supported: use letters, digits and . _ + : @ -`);
  }
}
