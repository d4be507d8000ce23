import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChecksumCache } from '../../../src/spec/checksum-cache.js';
import { preflightFiles } from '../../../src/spec/preflight-files.js';
import { readSpecText } from '../../../src/spec/read-spec.js';
import type { SpecDocument } from '../../../src/spec/spec-document.js';
import { edit, exampleText } from '../../fixtures/spec/example-spec.js';
import { sha256Hex, tinyQcow2Bytes, writeTinyQcow2 } from '../../fixtures/spec/gen-large-spec.js';

const dir = mkdtempSync(join(tmpdir(), 'qvd-preflight-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let good = '';
beforeAll(async () => {
  good = await writeTinyQcow2(join(dir, 'good.qcow2'));
  const raw = Buffer.alloc(1024);
  raw[510] = 0x55;
  raw[511] = 0xaa;
  writeFileSync(join(dir, 'raw.img'), raw);
  const v1 = tinyQcow2Bytes();
  v1.writeUInt32BE(1, 4);
  writeFileSync(join(dir, 'v1.qcow2'), v1);
  const backed = tinyQcow2Bytes();
  backed.writeBigUInt64BE(512n, 8);
  writeFileSync(join(dir, 'backed.qcow2'), backed);
  mkdirSync(join(dir, 'a-directory'));
  writeFileSync(join(dir, 'vmlinuz'), 'kernel');
  writeFileSync(join(dir, 'id_ed25519'), 'key');
});

function document(images: SpecDocument['images'], nodes: SpecDocument['nodes'] = [{ name: 'n1', address: 'h' }]): SpecDocument {
  return { version: 1, nodes, images };
}

const image = (source: string, sha256: string, extra: Partial<SpecDocument['images'][number]> = {}): SpecDocument['images'][number] => ({ name: 'img', source, sha256, ...extra });

async function check(doc: SpecDocument, cacheFile?: string): Promise<string[]> {
  const cache = await ChecksumCache.open(cacheFile);
  const diagnostics = await preflightFiles(doc, dir, cache);
  await cache.save();
  return diagnostics.map((d) => `${d.severity} ${JSON.stringify(d.path)} ${d.summary}${d.detail === undefined ? '' : ` | ${d.detail}`}`);
}

describe('preflightFiles', () => {
  it('accepts a qcow2 image with the right checksum', async () => {
    expect(await check(document([image('good.qcow2', good)]))).toEqual([]);
  });

  it('reports a missing source, a directory and a raw image', async () => {
    expect(await check(document([image('absent.qcow2', good)]))).toEqual([`error ["images",0,"source"] images[0] "img:default": cannot read the source ${dir}/absent.qcow2: no such file`]);
    expect(await check(document([image('a-directory', good)]))).toEqual([`error ["images",0,"source"] images[0] "img:default": the source ${dir}/a-directory is not a regular file`]);
    expect(await check(document([image('raw.img', good)]))).toEqual([
      `error ["images",0,"source"] images[0] "img:default": ${dir}/raw.img is not a qcow2 image | It looks like a raw disk image: convert it with \`qemu-img convert -O qcow2 IN OUT\`.`,
    ]);
  });

  it('rejects unknown qcow2 versions and warns about backing files', async () => {
    expect(await check(document([image('v1.qcow2', good)]))).toEqual([`error ["images",0,"source"] images[0] "img:default": ${dir}/v1.qcow2 is qcow2 version 1; only versions 2 and 3 are supported`]);
    const backed = sha256Hex(readFileSync(join(dir, 'backed.qcow2')));
    expect(await check(document([image('backed.qcow2', backed)]))).toEqual([
      `warning ["images",0,"source"] images[0] "img:default": ${dir}/backed.qcow2 has a backing file, which is not uploaded with it | Flatten it first: \`qemu-img convert -O qcow2 IN OUT\`.`,
    ]);
  });

  it('reports a checksum mismatch with the actual checksum', async () => {
    const wrong = 'f'.repeat(64);
    expect(await check(document([image('good.qcow2', wrong.toUpperCase())]))).toEqual([
      `error ["images",0,"sha256"] images[0] "img:default": the sha256 of ${dir}/good.qcow2 is ${good}, not ${wrong} | If the image changed on purpose, write sha256: ${good}`,
    ]);
  });

  it('remembers checksums by path, size and mtime', async () => {
    const source = join(dir, 'cached.qcow2');
    const cacheFile = join(dir, 'cache', 'checksums.json');
    const sha = await writeTinyQcow2(source);
    expect(await check(document([image('cached.qcow2', sha)]), cacheFile)).toEqual([]);
    const saved = JSON.parse(readFileSync(cacheFile, 'utf8')) as { entries: Record<string, { sha256: string }> };
    expect(saved.entries[source]?.sha256).toBe(sha);
    // A planted entry proves the cache is read instead of the file...
    const planted = { ...saved, entries: { ...saved.entries, [source]: { ...saved.entries[source], sha256: 'e'.repeat(64) } } };
    writeFileSync(cacheFile, JSON.stringify(planted));
    expect(await check(document([image('cached.qcow2', 'e'.repeat(64))]), cacheFile)).toEqual([]);
    // ...until the file's mtime changes.
    utimesSync(source, new Date(), new Date(Date.now() + 5000));
    expect(await check(document([image('cached.qcow2', sha)]), cacheFile)).toEqual([]);
  });

  it('starts afresh from a corrupt cache file', async () => {
    const cacheFile = join(dir, 'corrupt.json');
    writeFileSync(cacheFile, '{not json');
    expect(await check(document([image('good.qcow2', good)]), cacheFile)).toEqual([]);
    expect(JSON.parse(readFileSync(cacheFile, 'utf8'))).toMatchObject({ version: 1 });
  });

  it('checks boot files and SSH keys', async () => {
    const doc = document(
      [image('good.qcow2', good, { boot: { kernel: 'vmlinuz', initrd: 'initrd.img' } })],
      [
        { name: 'n1', address: 'h1', ssh: { private_key: 'id_ed25519' } },
        { name: 'n2', address: 'h2', ssh: { private_key: 'missing_key' } },
        { name: 'n3', address: 'h3', ssh: { private_key: 'a-directory' } },
        { name: 'n4', address: 'h4', local: true, ssh: { private_key: 'ignored-for-local' } },
      ],
    );
    expect(await check(doc)).toEqual([
      `error ["images",0,"boot","initrd"] images[0] "img:default": cannot read ${dir}/initrd.img: no such file`,
      `error ["nodes",1,"ssh","private_key"] nodes[1] "n2": cannot read ${dir}/missing_key: no such file`,
      `error ["nodes",2,"ssh","private_key"] nodes[2] "n3": ${dir}/a-directory is not a regular file`,
    ]);
  });

  it('runs from readSpec unless checkFiles is false', async () => {
    const text = edit(exampleText(), 'source: images/desktop.qcow2', `source: ${join(dir, 'raw.img')}`);
    const file = join(dir, 'qvd.yaml');
    writeFileSync(join(dir, 'office.qcow2'), tinyQcow2Bytes(512));
    mkdirSync(join(dir, 'secrets'), { recursive: true });
    writeFileSync(join(dir, 'secrets', 'carol.password'), 'pw\n');
    const checked = await readSpecText(text.replace('source: images/office.qcow2', 'source: office.qcow2'), file, { env: {} });
    expect(checked.diagnostics.map((d) => d.summary)).toEqual([`images[0] "desktop:default": ${dir}/raw.img is not a qcow2 image`]);
    expect(checked.diagnostics[0]?.range?.line).toBe(text.slice(0, text.indexOf('raw.img')).split('\n').length);
    const unchecked = await readSpecText(text, file, { env: {}, checkFiles: false });
    expect(unchecked.diagnostics).toEqual([]);
  });
});
