/**
 * What a line of nxagent's stderr means for the session. nxagent reports
 * its own state there as `Session: <what> at '<date>'.`, and its embedded
 * proxy says `Info: Waiting for connection ...` once its port is bound,
 * which is the only sign that a client can connect now.
 */
export type AgentLogEvent =
  | { readonly kind: 'listening' }
  | { readonly kind: 'starting' }
  | { readonly kind: 'started' }
  | { readonly kind: 'suspending' }
  | { readonly kind: 'suspended' }
  | { readonly kind: 'resuming' }
  | { readonly kind: 'resumed' }
  | { readonly kind: 'terminating' }
  | { readonly kind: 'terminated' }
  | { readonly kind: 'error'; readonly message: string };

const SESSION_EVENTS: readonly [RegExp, AgentLogEvent][] = [
  [/^Session: Starting session/, { kind: 'starting' }],
  [/^Session: Session started/, { kind: 'started' }],
  [/^Session: Suspending session/, { kind: 'suspending' }],
  [/^Session: Session suspended/, { kind: 'suspended' }],
  [/^Session: Resuming session/, { kind: 'resuming' }],
  [/^Session: Session resumed/, { kind: 'resumed' }],
  [/^Session: Terminating session/, { kind: 'terminating' }],
  [/^Session: (Session terminated|Aborting session|Session aborted)/, { kind: 'terminated' }],
  [/^Info: Waiting for connection/, { kind: 'listening' }],
];

export function parseAgentLine(line: string): AgentLogEvent | undefined {
  const trimmed = line.trim();
  for (const [pattern, event] of SESSION_EVENTS) if (pattern.test(trimmed)) return event;
  const error = /^Error: (.*)$/.exec(trimmed);
  if (error?.[1] !== undefined) return { kind: 'error', message: error[1] };
  return undefined;
}
