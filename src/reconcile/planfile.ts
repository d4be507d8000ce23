import { readFile, rename, writeFile } from 'node:fs/promises';
import { InvalidInputError } from '../errors.js';
import type { DesiredState } from '../spec/desired-state.js';
import { PLAN_FORMAT_VERSION, type Plan } from './plan.js';

/**
 * A saved plan: the plan and the desired state it was made from, so that
 * `qvd apply FILE` applies exactly what was reviewed, without the spec.
 * It holds password hashes (never plaintext) and the VMs' agent secrets (in
 * the domain definitions and `desired.vmaSecrets`): it is written 0600; keep
 * it like the store.
 */
export interface PlanFile {
  readonly qvdPlanFile: typeof PLAN_FORMAT_VERSION;
  readonly createdAt: string;
  readonly destroy: boolean;
  readonly purgeHomes: boolean;
  readonly targets: readonly string[];
  /** The spec it came from, for messages and for finding the store. */
  readonly specFile: string;
  readonly plan: Plan;
  readonly desired: DesiredState;
}

export async function savePlanFile(path: string, content: Omit<PlanFile, 'qvdPlanFile' | 'createdAt'>): Promise<void> {
  const file: PlanFile = { qvdPlanFile: PLAN_FORMAT_VERSION, createdAt: new Date().toISOString(), ...content };
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(file), { mode: 0o600 });
  await rename(tmp, path);
}

export async function loadPlanFile(path: string): Promise<PlanFile> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new InvalidInputError(`${path} is not a qvd plan file: ${(e as Error).message}`, [], { hint: 'Make one with `qvd plan --out FILE`.' });
  }
  const f = parsed as Partial<PlanFile> | null;
  if (f === null || typeof f !== 'object' || f.qvdPlanFile === undefined || f.plan === undefined || f.desired === undefined) {
    throw new InvalidInputError(`${path} is not a qvd plan file`, [], { hint: 'Make one with `qvd plan --out FILE`.' });
  }
  if (f.qvdPlanFile !== PLAN_FORMAT_VERSION) throw new InvalidInputError(`${path} is a plan file of format ${String(f.qvdPlanFile)}; this qvd reads format ${PLAN_FORMAT_VERSION}`);
  return f as PlanFile;
}

/** Whether a path names a saved plan rather than a spec (by content, not by name). */
export async function looksLikePlanFile(path: string): Promise<boolean> {
  try {
    const head = (await readFile(path, 'utf8')).slice(0, 32);
    return head.startsWith('{"qvdPlanFile"');
  } catch {
    return false;
  }
}
