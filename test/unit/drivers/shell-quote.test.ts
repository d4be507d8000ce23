import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { heredoc, quote, quoteArgv, raw, sh } from '../../../src/drivers/exec/ssh/shell-quote.js';

// Strings that break naive quoting: quotes, expansions, globbing, control characters, non-ASCII.
const nasty = [
  '',
  ' ',
  'plain',
  "it's",
  "''",
  '"double"',
  '$HOME',
  '${PATH}',
  '$(touch /tmp/qvd-pwned)',
  '`id`',
  'a;b',
  'a && b || c',
  'a|b',
  '*',
  '?',
  '[a-z]',
  '~',
  '~root',
  '-n',
  '--',
  'back\\slash',
  'trailing\\',
  'new\nline',
  'tab\there',
  '\r',
  '!history',
  '#comment',
  'a=b',
  '{a,b}',
  '<in',
  '>out',
  '2>&1',
  'ünïcödé ✓',
  '\u0001\u001b[31m',
  "'\"'\"'",
  'x'.repeat(5000),
];

describe('quote', () => {
  it('round-trips every nasty string through bash byte for byte', () => {
    const script = `printf '%s\\0' ${quoteArgv(nasty)}`;
    const out = execFileSync('bash', ['-c', script], { encoding: 'utf8' });
    expect(out.split('\0').slice(0, -1)).toEqual(nasty);
  });

  it('round-trips through sh (dash) too, since sshd may hand the command to any POSIX shell', () => {
    const script = `printf '%s\\0' ${quoteArgv(nasty)}`;
    const out = execFileSync('sh', ['-c', script], { encoding: 'utf8' });
    expect(out.split('\0').slice(0, -1)).toEqual(nasty);
  });

  it('leaves safe words alone and quotes everything else', () => {
    expect(quote('virsh')).toBe('virsh');
    expect(quote('/var/lib/qvd/pool-1')).toBe('/var/lib/qvd/pool-1');
    expect(quote('a b')).toBe("'a b'");
    expect(quote('')).toBe("''");
    expect(quote("it's")).toBe("'it'\\''s'");
  });

  it('refuses NUL, which no argv can carry', () => {
    expect(() => quote('a\0b')).toThrow(/NUL/);
  });
});

describe('sh template', () => {
  it('quotes interpolated values and arrays, keeps raw fragments', () => {
    const name = "x'; rm -rf / #";
    const script = sh`printf '%s\\n' ${name} ${['a b', 'c']} ${3} ${raw('"$((1+1))"')}`;
    const out = execFileSync('bash', ['-c', script], { encoding: 'utf8' });
    expect(out).toBe(`${name}\na b\nc\n3\n2\n`);
  });

  it('rejects non-finite numbers', () => {
    expect(() => sh`echo ${Number.NaN}`).toThrow(/finite/);
  });
});

describe('heredoc', () => {
  it('carries content verbatim, expansions and quotes included', () => {
    const content = "<network>\n  <name>$(id) `id` ${HOME} '\"</name>\n</network>\nEOF\n";
    const script = sh`cat ${heredoc(content)}echo done`;
    const out = execFileSync('bash', ['-c', script], { encoding: 'utf8' });
    expect(out).toBe(`${content}done\n`);
  });

  it('adds the final newline a here-document needs', () => {
    const out = execFileSync('bash', ['-c', sh`cat ${heredoc('no newline')}`], { encoding: 'utf8' });
    expect(out).toBe('no newline\n');
  });
});
