import { mkdtempSync, rmSync, writeFileSync, mkdirSync, openSync, ftruncateSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../../src/spec/diagnostic.js';
import { loadSpec } from '../../../src/spec/load-spec.js';
import { readSpec } from '../../../src/spec/read-spec.js';
import { exampleText } from '../../fixtures/spec/example-spec.js';

const dir = mkdtempSync(join(tmpdir(), 'qvd-load-spec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function write(content: string | Uint8Array): string {
  const file = join(dir, `spec-${counter++}.yaml`);
  writeFileSync(file, content);
  return file;
}

/** Loads bytes and requires: no throw, exactly the diagnostics of a refused file (a hang fails on the test timeout). */
async function refused(content: string | Uint8Array): Promise<Diagnostic[]> {
  const file = write(content);
  const result = await loadSpec(file);
  expect(result.document).toBeUndefined();
  expect(result.diagnostics.length).toBeGreaterThan(0);
  expect(result.diagnostics.every((d) => d.severity === 'error' && d.summary.length > 0)).toBe(true);
  // readSpec goes through the same path and must not throw either.
  const read = await readSpec(file, { checkFiles: false });
  expect(read.desired).toBeUndefined();
  return result.diagnostics;
}

const BILLION_LAUGHS = [
  'version: 1',
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
  'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
  'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
  'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
  'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
  'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
  'h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]',
  'i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]',
  'nodes: *i',
  'images: *i',
  '',
].join('\n');

describe('loadSpec robustness', () => {
  it('reads the example', async () => {
    const result = await loadSpec(write(exampleText()));
    expect(result.diagnostics).toEqual([]);
    expect(result.document?.vms).toHaveLength(6);
  });

  it('refuses binary garbage', async () => {
    const bytes = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256);
    const [d] = await refused(bytes);
    expect(d?.summary).toMatch(/not UTF-8 text \(invalid byte 0x[0-9a-f]{2} at byte \d+\)/);
    expect(d?.range?.line).toBeGreaterThanOrEqual(1);
  });

  it('refuses a NUL byte, pointing at it', async () => {
    const [d] = await refused('version: 1\nnodes: []\nim\0ages: []\n');
    expect(d?.summary).toMatch(/NUL byte/);
    expect(d?.range).toMatchObject({ line: 3, column: 3 });
  });

  it('accepts a UTF-8 byte order mark', async () => {
    const result = await loadSpec(write(`\uFEFF${exampleText()}`));
    expect(result.diagnostics).toEqual([]);
  });

  it('reports tabs used for indentation with their position', async () => {
    const [d] = await refused('version: 1\nnodes:\n\t- name: a\n');
    expect(d?.summary).toBe('YAML syntax error: Tabs are not allowed as indentation');
    expect(d?.range).toMatchObject({ line: 3, column: 1 });
    expect(d?.excerpt).toBe('\t- name: a\n^');
  });

  it('defuses a billion-laughs alias bomb', async () => {
    const [d] = await refused(BILLION_LAUGHS);
    expect(d?.summary).toMatch(/aliases expand the document to more than \d+ nodes/);
  });

  it('still accepts aliases used sensibly', async () => {
    const text = exampleText().replace('    properties:\n      department: engineering\n', '    properties: &engineering\n      department: engineering\n');
    const withAlias = text.replace('  - login: bob ', '  - properties: *engineering\n    login: bob ');
    const result = await loadSpec(write(withAlias));
    expect(result.diagnostics).toEqual([]);
    expect(result.document?.users?.[1]?.properties).toEqual({ department: 'engineering' });
  });

  it('refuses a 50 MB file from its size, without parsing it', async () => {
    const file = join(dir, 'huge.yaml');
    const fd = openSync(file, 'w');
    ftruncateSync(fd, 50 * 1024 * 1024);
    closeSync(fd);
    const result = await loadSpec(file);
    expect(result.diagnostics).toHaveLength(1);
    expect(result.diagnostics[0]?.summary).toBe('the file is too large (52428800 bytes; at most 16777216 bytes are read)');
  });

  it('refuses 100,000 levels of flow nesting', async () => {
    const [d] = await refused(`version: 1\nnodes: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
    expect(d?.summary).toMatch(/nested more than \d+ levels deep/);
    expect(d?.range?.line).toBe(2);
  });

  it('refuses 100,000 levels of block nesting', async () => {
    const [d] = await refused(`${'- '.repeat(100_000)}x\n`);
    expect(d?.summary).toMatch(/nested more than \d+ levels deep/);
  });

  it('refuses 100,000 nested implicit keys quickly', async () => {
    const [d] = await refused(`${'a: '.repeat(100_000)}x\n`);
    expect(d?.summary).toMatch(/^YAML syntax error: /);
    expect(d?.range?.line).toBe(1);
  });

  it('reports an empty file', async () => {
    const [d] = await refused('');
    expect(d?.summary).toBe('the file is empty');
  });

  it('reports a file of comments only as empty', async () => {
    const [d] = await refused('# nothing here\n');
    expect(d?.summary).toBe('the file is empty');
  });

  it('reports a top-level scalar', async () => {
    const [d] = await refused('hello\n');
    expect(d?.summary).toBe('the document must be a mapping (found "hello")');
    expect(d?.range).toMatchObject({ line: 1, column: 1 });
  });

  it('reports a top-level list', async () => {
    const [d] = await refused('- version: 1\n- nodes: []\n');
    expect(d?.summary).toBe('the document must be a mapping (found a list)');
  });

  it('reports several documents', async () => {
    const [d] = await refused('version: 1\n---\nversion: 1\n');
    expect(d?.summary).toMatch(/^YAML syntax error: the file holds more than one YAML document/);
    expect(d?.range?.line).toBe(2);
  });

  it('reports duplicate keys with the position of the repeat', async () => {
    const [d] = await refused('version: 1\nnodes: []\nimages: []\nnodes: []\n');
    expect(d?.summary).toBe('YAML syntax error: duplicate key "nodes"');
    expect(d?.range).toMatchObject({ line: 4, column: 1 });
  });

  it('reports an unclosed flow collection', async () => {
    const [d] = await refused('version: 1\nnodes: [{name: a, address: b}\nimages: []\n');
    expect(d?.summary).toMatch(/^YAML syntax error: /);
    expect(d?.range?.line).toBeGreaterThanOrEqual(2);
  });

  it('reports tags outside the core schema', async () => {
    const [d] = await refused('version: 1\nnodes: !!binary aGVsbG8=\nimages: []\n');
    expect(d?.summary).toMatch(/^YAML syntax error: unknown tag/);
    expect(d?.range?.line).toBe(2);
  });

  it('reads YAML 1.2: yes, no and dates stay strings', async () => {
    const result = await loadSpec(write(exampleText().replace('rack: r1', 'rack: yes\n      since: 2024-01-01')));
    expect(result.diagnostics).toEqual([]);
    expect(result.document?.nodes[0]?.labels).toEqual({ rack: 'yes', since: '2024-01-01' });
  });

  it('reports a missing file, a directory and /dev/zero without throwing', async () => {
    expect((await loadSpec(join(dir, 'absent.yaml'))).diagnostics[0]?.summary).toMatch(/cannot read .*absent\.yaml: no such file/);
    mkdirSync(join(dir, 'a-dir'));
    expect((await loadSpec(join(dir, 'a-dir'))).diagnostics[0]?.summary).toMatch(/it is a directory/);
    const zero = await loadSpec('/dev/zero');
    expect(zero.diagnostics[0]?.summary).toMatch(/too large/);
  });

  it('turns one mistake into one diagnostic', async () => {
    const text = exampleText().replace('      file: secrets/carol.password', '      plain: hunter2');
    const result = await loadSpec(write(text));
    expect(result.diagnostics.map((d) => d.summary)).toEqual(['users[2].password: unknown property "plain"']);
  });

  it('says when YAML read a digest as a number', async () => {
    const text = exampleText().replace('"09f5e1bb35ea844e33d04f5d4ce0a6e9473a1c7038e430db05fa1d5d8a1fe1e4"', '1234567890123456789012345678901234567890123456789012345678901234');
    const [d] = await refused(text);
    expect(d?.summary).toMatch(/^images\[0\]\.sha256: must be a SHA-256 digest: 64 hexadecimal digits \(found 1\.23456789012345\d*e\+63\)$/);
    expect(d?.detail).toMatch(/put it in quotes/);
  });
});
