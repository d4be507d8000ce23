import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../../src/spec/format-diagnostic.js';
import { readSpecText } from '../../../src/spec/read-spec.js';
import { edit, EXAMPLE_FILE, exampleText, positionOf } from '../../fixtures/spec/example-spec.js';

describe('formatDiagnostic', () => {
  it('renders summary, location, excerpt and detail', () => {
    const text = formatDiagnostic(
      {
        severity: 'error',
        summary: 'vms[2].power: must be one of on-demand, running, stopped',
        detail: 'Pick one.',
        path: ['vms', 2, 'power'],
        range: { file: 'qvd.yaml', line: 41, column: 12 },
        excerpt: '    power: runing\n           ^^^^^^',
      },
      { color: false },
    );
    expect(text).toBe(
      [
        'error: vms[2].power: must be one of on-demand, running, stopped',
        '  --> qvd.yaml:41:12',
        '   |     power: runing',
        '   |            ^^^^^^',
        '  Pick one.',
      ].join('\n'),
    );
  });

  it('names the path when the position is unknown, and the node of a preflight check', () => {
    expect(formatDiagnostic({ severity: 'warning', summary: 's', path: ['nodes', 0, 'ssh'], node: 'n1' }, { color: false })).toBe('warning: s\n  --> nodes[0].ssh\n  on node n1');
  });

  it('colours only when asked', () => {
    const d = { severity: 'error', summary: 's' } as const;
    expect(formatDiagnostic(d, { color: false })).not.toContain('\u001b[');
    expect(formatDiagnostic(d, { color: true })).toContain('\u001b[1;31merror:\u001b[0m');
  });

  it('points at the first occurrence of a duplicate', async () => {
    const text = edit(exampleText(), 'name: erin-desk', 'name: bob-desk');
    const { diagnostics } = await readSpecText(text, EXAMPLE_FILE, { checkFiles: false, env: {} });
    const duplicate = diagnostics.find((d) => d.summary.startsWith('vms[5]: VM name'));
    expect(duplicate?.relatedPath).toEqual(['vms', 2, 'name']);
    expect(duplicate?.relatedRange).toMatchObject(positionOf(text, 'bob-desk'));
    const first = positionOf(text, 'bob-desk');
    expect(formatDiagnostic(duplicate ?? { severity: 'error', summary: '' }, { color: false })).toContain(`  see ${EXAMPLE_FILE}:${first.line}:${first.column}`);
  });
});
