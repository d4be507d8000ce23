import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSpecText } from '../../../src/spec/read-spec.js';
import { writeTinyQcow2 } from '../../fixtures/spec/gen-large-spec.js';
import { edit, exampleText } from '../../fixtures/spec/example-spec.js';

/** The example with its desktop image's digest read from a checksum file. */
async function setup(checksumFile: string | undefined): Promise<{ dir: string; text: string; digest: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'qvd-digest-'));
  const digest = await writeTinyQcow2(join(dir, 'desktop.qcow2'), 1024);
  await writeTinyQcow2(join(dir, 'office.qcow2'), 512);
  if (checksumFile !== undefined) await writeFile(join(dir, 'desktop.qcow2.sha256'), checksumFile.replace('DIGEST', digest));
  let text = edit(exampleText(), 'source: images/desktop.qcow2', 'source: desktop.qcow2');
  text = edit(text, 'source: images/office.qcow2', 'source: office.qcow2');
  text = text.replace(/sha256: "09f5e1bb[0-9a-f]+"/, 'sha256: { file: desktop.qcow2.sha256 }');
  await mkdir(join(dir, 'secrets'));
  await copyFile(new URL('../../../examples/secrets/carol.password', import.meta.url), join(dir, 'secrets/carol.password'));
  return { dir, text, digest };
}

describe('images[].sha256: {file}', () => {
  it('takes the digest from sha256sum output beside the image', async () => {
    const { dir, text, digest } = await setup('DIGEST  desktop.qcow2\n');
    const r = await readSpecText(text, join(dir, 'qvd.yaml'), { env: {}, checkFiles: true });
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(r.desired?.images.find((i) => i.name === 'desktop')?.sha256).toBe(digest);
  });

  it('reports a checksum file that holds no digest, at the sha256 key', async () => {
    const { dir, text } = await setup('not a digest\n');
    const r = await readSpecText(text, join(dir, 'qvd.yaml'), { env: {}, checkFiles: false });
    const d = r.diagnostics.find((x) => x.path?.join('.') === 'images.0.sha256');
    expect(d?.summary).toMatch(/does not start with a sha256 digest/);
    expect(d?.range?.line).toBeGreaterThan(1);
  });

  it('reports a missing checksum file', async () => {
    const { dir, text } = await setup(undefined);
    const r = await readSpecText(text, join(dir, 'qvd.yaml'), { env: {}, checkFiles: false });
    expect(r.diagnostics.find((x) => x.path?.join('.') === 'images.0.sha256')?.summary).toMatch(/cannot read the checksum file .*ENOENT/);
    expect(r.desired).toBeUndefined();
  });
});
