import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readSpec } from '../../../src/spec/read-spec.js';
import { writeTinyQcow2 } from '../../fixtures/spec/gen-large-spec.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

describe('examples/qvd.yaml', () => {
  it('is valid once the quickstart has made its image files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qvd-example-'));
    await cp(join(EXAMPLES, 'qvd.yaml'), join(dir, 'qvd.yaml'));
    await cp(join(EXAMPLES, 'secrets'), join(dir, 'secrets'), { recursive: true });
    await cp(join(EXAMPLES, 'images'), join(dir, 'images'), { recursive: true }).catch(() => undefined);
    // What scripts/quickstart.sh puts there, in miniature.
    for (const name of ['desktop', 'office']) {
      const digest = await writeTinyQcow2(join(dir, `images/${name}.qcow2`), 64);
      await writeFile(join(dir, `images/${name}.qcow2.sha256`), `${digest}  ${name}.qcow2\n`);
    }
    await writeFile(join(dir, 'images/desktop.vmlinuz'), 'kernel');
    await writeFile(join(dir, 'images/desktop.initrd'), 'initrd');
    const r = await readSpec(join(dir, 'qvd.yaml'), { env: {} });
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(r.desired?.vms.map((v) => [v.name, v.node])).toEqual([
      ['alice-desk', 'node-a'],
      ['alice-office', 'node-a'],
      ['bob-desk', 'node-a'],
      ['carol-desk', 'node-b'],
      ['dave-office', 'node-a'],
      ['erin-desk', 'node-a'],
    ]);
    // node-b is blocked (in maintenance): only the VM pinned there is reported, as a warning.
    expect(r.diagnostics.map((d) => d.summary)).toEqual([expect.stringMatching(/carol-desk.*blocked/)]);
  });
});
