import { describe, expect, it } from 'vitest';
import { parseAgentLine } from '../../../src/vma/agent-log-event.js';

describe('parseAgentLine', () => {
  it('maps the lines nxagent 3.5.99 prints (captured from a real session)', () => {
    const lines: [string, string | undefined][] = [
      ["Session: Starting session at 'Thu Nov 26 00:44:48 2026'.", 'starting'],
      ["Info: Waiting for connection from any host on socket 'tcp:*:4100'.", 'listening'],
      ["Session: Session started at 'Thu Nov 26 00:45:00 2026'.", 'started'],
      ["Session: Display failure detected at 'Thu Nov 26 00:45:12 2026'.", undefined],
      ["Session: Suspending session at 'Thu Nov 26 00:45:12 2026'.", 'suspending'],
      ["Session: Session suspended at 'Thu Nov 26 00:45:12 2026'.", 'suspended'],
      ["Session: Resuming session at 'Thu Nov 26 00:45:17 2026'.", 'resuming'],
      ["Session: Session resumed at 'Thu Nov 26 00:46:42 2026'.", 'resumed'],
      ["Session: Terminating session at 'Thu Nov 26 00:46:05 2026'.", 'terminating'],
      ["Session: Session terminated at 'Thu Nov 26 00:46:05 2026'.", 'terminated'],
      ["Session: Aborting session at 'Thu Nov 26 00:44:41 2026'.", 'terminated'],
      ["Info: Agent running with pid '5044'.", undefined],
    ];
    for (const [line, kind] of lines) expect(parseAgentLine(line)?.kind, line).toBe(kind);
  });

  it('keeps the text of errors', () => {
    expect(parseAgentLine("Error: Aborting session with 'Unable to open display'.")).toEqual({ kind: 'error', message: "Aborting session with 'Unable to open display'." });
  });
});
