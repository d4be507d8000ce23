import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORE_SCHEMA, load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parseYamlSubset } from '../../../src/spec/yaml-subset.js';
import { generateSpec } from '../../fixtures/spec/gen-large-spec.js';

const root = join(import.meta.dirname, '../../..');

type Reference = { ok: true; value: unknown } | { ok: false };

function jsYaml(text: string): Reference {
  try {
    return { ok: true, value: load(text, { schema: CORE_SCHEMA }) };
  } catch {
    return { ok: false };
  }
}

/**
 * The contract: the subset reader either declines (undefined) or returns
 * exactly what js-yaml returns, and it never accepts what js-yaml refuses.
 */
function differential(text: string): 'accepted' | 'declined' {
  const fast = parseYamlSubset(text);
  const reference = jsYaml(text);
  if (fast === undefined) return 'declined';
  expect(reference.ok, `js-yaml refuses ${JSON.stringify(text)} but the subset accepted it`).toBe(true);
  if (reference.ok) expect(fast.value).toStrictEqual(reference.value);
  return 'accepted';
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.yaml') || name.endsWith('.yml'))
    .map((name) => join(dir, name));
}

describe('parseYamlSubset on real specs', () => {
  it('reads examples/qvd.yaml itself (not via js-yaml) and exactly as js-yaml does', () => {
    expect(differential(readFileSync(join(root, 'examples/qvd.yaml'), 'utf8'))).toBe('accepted');
  });

  it('reads every YAML fixture as js-yaml does', () => {
    const files = yamlFiles(join(root, 'test/fixtures'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(differential(readFileSync(file, 'utf8')), file).toBe('accepted');
  });

  it('reads a generated large spec itself, exactly as js-yaml does', () => {
    const text = generateSpec({ vms: 300, users: 150, nodes: 10, images: 3 });
    expect(differential(text)).toBe('accepted');
    expect(differential(text.replaceAll('\n', '\r\n'))).toBe('accepted');
  });
});

// [yaml, must the subset accept it?]. Everything else may be declined.
const snippets: ReadonlyArray<readonly [string, boolean?]> = [
  // numbers in every form js-yaml knows, and near misses
  ['a: 0x1F', false],
  ['a: 0o17'],
  ['a: 0b101'],
  ['a: 1_000'],
  ['a: .5'],
  ['a: -.inf'],
  ['a: +.INF'],
  ['a: .Inf'],
  ['a: .NaN'],
  ['a: .nan'],
  ['a: +12'],
  ['a: 012'],
  ['a: 0'],
  ['a: -0'],
  ['a: 00'],
  ['a: 0x'],
  ['a: 1e3'],
  ['a: 1.5e-3'],
  ['a: 6.8523015e+5'],
  ['a: 1.'],
  ['a: -1'],
  ['a: 12345678901234567890'],
  ['a: 9007199254740993'],
  ['a: 123456789012345', true],
  ['a: 1__0'],
  ['a: 1:30'],
  ['a: 1,000'],
  ['a: 10.16.0.0/16', true],
  ['a: 192.168.0.2', true],
  ['a: 2h', true],
  ['a: 0.5', true],
  // null and booleans of the core schema; the rest are strings
  ['a: yes\nb: no\nc: on\nd: off\ne: y', true],
  ['a: ~\nb: null\nc: Null\nd: NULL\ne: nULL\nf: ~x', true],
  ['a: true\nb: True\nc: TRUE\nd: tRUE\ne: false\nf: False\ng: FALSE', true],
  // keys are resolved, then made strings
  ['1: a\n2.5: b', true],
  ['True: x\nnull: y\nFALSE: z', true],
  ['null: y\nNull: z'],
  ['~: x'],
  ['0x1F: x'],
  ['.inf: x'],
  ['"a": 1\n\'b\': 2', true],
  ['a b: c', true],
  ['a : b'],
  ['__proto__: x'],
  ['constructor: x\ntoString: y\nhasOwnProperty: z', true],
  ['<<: {a: 1}'],
  ['1: a\n01: b'],
  ['a: 1\na: 2'],
  // quoted scalars
  ["key: 'it''s'", true],
  ['a: "a\\"b"', true],
  ['a: "\\u00e9\\t\\n\\\\\\/\\0"', true],
  ['a: "\\x41\\U0001F600\\N\\_\\L\\P\\e\\a\\b\\v\\f\\r\\ "'],
  ['a: "\\q"'],
  ["a: 'x"],
  ['a: "x'],
  ['a: "a" b'],
  ['a: "a"#b'],
  ['a: "a" #b', true],
  ["a: '1'\nb: \"2\"\nc: 'true'", true],
  ['a: "x\n  y"'],
  ["a: 'x\n\n  y'"],
  ['a: "# not a comment"', true],
  // comments
  ['a: b #c', true],
  ['a: b#c', true],
  ['a: b # c # d', true],
  ['# only a comment'],
  ['a: 1 # c\n  # indented comment\nb: 2', true],
  ['a:\n# c\n    # c\n  b: 1\n      # c\n  c: 2\n# c\nd: 3', true],
  ['a:   # c\n  - x # c\n  # c\n  - y', true],
  ['a: [1, 2] # c', true],
  ['a: [1, 2]# c'],
  // plain scalars that are not mappings, and mappings that are errors
  ['key:value'],
  ['a: key:value', true],
  ['a: http://x:80/y', true],
  ['a: b: c'],
  ['a: b:'],
  ['- a: b: c'],
  [': x'],
  ['a:b: c'],
  ['a:#b'],
  ['key:', true],
  ['key:\nother:', true],
  ['a: -x\nb: -', false],
  ['a: - b'],
  ['a: ? b'],
  ['a: 1\n- b'],
  ['- a\nb: 1'],
  // sequences
  ['- a\n- b', true],
  ['-\n- a\n-', true],
  ['- \n  a: 1', true],
  ['-\n  - a'],
  ['- - x'],
  ['key:\n- a\n- b', true],
  ['key:\n- a\n- b\nother: 1', true],
  ['a:\n  - x: 1\n    y: 2\n  - z: 3', true],
  ['- a: 1\n  b: 2\n- c: 3', true],
  ['-   a: 1\n    b: 2', true],
  ['- a: 1\n   b: 2'],
  ['- a: 1\n b: 2'],
  ['- a:\n  - x\n  b: 1', true],
  ['- "q": 1\n  r: 2', true],
  ['- [a]: 1'],
  ['- [a, b]\n- {c: d}', true],
  ['- a\n  - b'],
  ['a:\n  -\n   -\n  - x'],
  ['a:\n  -\n  - x\n  -', true],
  ['a:\n  - x\n   - y'],
  ['a:\n  - x\n - y'],
  // indentation
  ['a:\n  b: 1\n c: 2'],
  ['a: 1\n  b: 2'],
  ['a:\n    b: 1\n  c: 2'],
  ['a:\n  b:\n    c: 1\n  d: 2\ne: 3', true],
  ['  a: 1\n  b: 2'],
  ['a: 1\n b'],
  ['a:\n  text'],
  ['a: b\n  c'],
  ['a: b\n\n  c'],
  ['a: b\n  # c\n  d'],
  // trailing spaces, blank lines, documents
  ['a: b   \nc:   \n  d: e  ', true],
  ['a: 1\n\n\n   \nb: 2\n\n', true],
  [''],
  ['\n'],
  ['\n\n'],
  ['   '],
  ['---'],
  ['---\na: 1', true],
  ['--- # c\na: 1', true],
  ['--- a: 1'],
  ['---a: 1'],
  ['a: 1\n---\nb: 2'],
  ['a: 1\n...\n'],
  ['%YAML 1.2\n---\na: 1'],
  ['a: ---\nb: ...', true],
  // line breaks
  ['a: 1\r\nb:\r\n  - x\r\n', true],
  ['a: 1\rb: 2'],
  ['a: "x"\r\n', true],
  // flow collections
  ['a: [a, b, ]', true],
  ['a: {a: 1, }', true],
  ['a: {a: }', true],
  ['a: {a:}'],
  ['a: {a:1}'],
  ['a: {"a":1}'],
  ['a: [a, [b]]', true],
  ['a: {a: {b: [1, 2]}, c: []}', true],
  ['a: []\nb: {}\nc: [ ]\nd: { }', true],
  ['a: [a, , b]'],
  ['a: [, a]'],
  ['a: [a b, c d ]', true],
  ['a: [a: b]'],
  ['a: {a, b}'],
  ['a: [1, 2'],
  ['a: [1,\n  2]'],
  ['a: [-1, -x]', true],
  ['a: [-]'],
  ['a: [a]]'],
  ['a: {a: 1, a: 2}'],
  ['a: {a: 1}: b'],
  ['a: [a[b]]'],
  ['a: {x: "q,}", y: \'z]\'}', true],
  ['a: [a #b]'],
  ['a: [http://x:80/y, a:b]'],
  ['a: {url: http://x:80/y}'],
  ['a: [~, null, true, 1, .5, 0x10, "1"]'],
  // block scalars
  ['a: |\n  line1\n  line2\n', true],
  ['a: |\n  line1\n  line2', true],
  ['a: |-\n  x\n\n', true],
  ['a: |+\n  x\n\n\nb: 1', true],
  ['a: |+\n  x\n\n', true],
  ['a: >\n  folded\n  text\n\n  para\n', true],
  ['a: >-\n  x\n    more\n  y\n\n  z\n', true],
  ['a: |\n\n  x\n', true],
  ['a: |\n    \n  x\n'],
  ['a: |2\n  x'],
  ['a: |\nb: 1', true],
  ['a: | # c\n  x\n  # not a comment\nb: 1', true],
  ['- |\n  x\n- y', true],
  ['- a: |\n    x\n  b: 2', true],
  ['a: |x\n  y'],
  ['a: |-+\n  y'],
  ['a:\n  cert: |\n    -----BEGIN CERTIFICATE-----\n    MIIB\n    -----END CERTIFICATE-----\n  key: k', true],
  ['a: |\n  x\n b: 1'],
  ['a: >\n\n  x\n   y\n  z\n\n\n', true],
  // outside the subset altogether
  ['a:\tb'],
  ['a:\n\t- b'],
  ['a: &x 1\nb: *x'],
  ['a: !!str 1'],
  ['a: @x'],
  ['a: `x'],
  ['a: %x'],
  ['? a\n: b'],
  ['a: é\nb: 日本語', true],
  ['a: \u{1F600}'],
  ['\uFEFFa: 1'],
  ['a: b\u0085c'],
  // roots that are not mappings
  ['hello'],
  ['42'],
  ['[1, 2]'],
  ['"x"'],
  ['- x\n---\n- y'],
];

describe('parseYamlSubset on tricky snippets', () => {
  it.each(snippets.map(([text, mustAccept]) => [JSON.stringify(text), text, mustAccept ?? false] as const))(
    '%s',
    (_name, text, mustAccept) => {
      const outcome = differential(text);
      if (mustAccept) expect(outcome).toBe('accepted');
      // The same without the final line break, and with CRLF breaks.
      differential(`${text}\n`);
      differential(text.replaceAll('\n', '\r\n'));
    },
  );

  it('stays linear on long runs of spaces', () => {
    const spaces = ' '.repeat(100_000);
    for (const text of [`a: [x${spaces}y]`, `a: [x${spaces}`, `a: x${spaces}y${spaces}#`, `- x${spaces}`, `a: {x${spaces}:${spaces}y}`]) {
      differential(text);
    }
  });

  it('declines nesting deeper than the limit js-yaml is given', () => {
    let deep = '';
    for (let i = 0; i < 70; i++) deep += `${'  '.repeat(i)}k${i}:\n`;
    expect(parseYamlSubset(deep)).toBeUndefined();
    expect(parseYamlSubset(`a: ${'['.repeat(70)}${']'.repeat(70)}`)).toBeUndefined();
  });
});

/** mulberry32: a small seeded PRNG, so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FUZZ_BASE = `# c
version: 1
settings:
  network: {cidr: 10.16.0.0/16, range: [a, "b", 'c']}
  tls:
    cert: |
      -----BEGIN-----
      abc
    note: >-
      folded
      text
nodes:
  - name: node-1   # c
    capacity: {memory_mb: 1024, vcpus: 2}
    labels:
      rack: r1
  -
    name: 'it''s'
    address: "a\\"b"
users:
- login: u1
  password: {hash: "$x$y"}
vms: []
`;

const FUZZ_CHARS = [' ', ':', '-', '#', "'", '"', '{', '}', '[', ']', ',', '\n', '|', '>', 'a', '1', '.', '\\', '  ', '\r\n', '~', '!'];

describe('parseYamlSubset under mutation', () => {
  it('never disagrees with js-yaml on mutated specs', () => {
    expect(differential(FUZZ_BASE)).toBe('accepted');
    const random = prng(20261126);
    const pick = (n: number): number => Math.floor(random() * n);
    let accepted = 0;
    for (let round = 0; round < 4000; round++) {
      let text = FUZZ_BASE;
      const edits = 1 + pick(3);
      for (let e = 0; e < edits; e++) {
        const at = pick(text.length + 1);
        const kind = pick(3);
        if (kind === 0) text = text.slice(0, at) + text.slice(at + 1);
        else if (kind === 1) text = text.slice(0, at) + text.slice(at, at + 1) + text.slice(at);
        else text = text.slice(0, at) + FUZZ_CHARS[pick(FUZZ_CHARS.length)] + text.slice(at);
      }
      if (differential(text) === 'accepted') accepted++;
    }
    // Most small mutations stay in the subset, so the comparison above means something.
    expect(accepted).toBeGreaterThan(1000);
  });
});
