import type { BatchOutcome, NodeDriver } from '../drivers/node-driver.js';
import { hashFile } from '../spec/checksum-cache.js';
import type { Change, DomainChange, ImageFileChange, RecordChange, VolumeChange } from './change.js';

type NodeChange = Exclude<Change, RecordChange>;

/** What apply runs as one step: a change alone, or a batch of changes the driver does in one go. */
export type NodeStep =
  | { readonly kind: 'one'; readonly change: NodeChange }
  | { readonly kind: 'batch'; readonly changes: readonly NodeChange[]; readonly run: () => Promise<readonly BatchOutcome[]> };

/**
 * Groups a node's changes (in plan order) into steps: runs of consecutive
 * changes the driver can batch become one step each. Only neighbours are
 * grouped, so the plan's order (stops, domain and volume deletes, network,
 * pool, images, volumes, domains, starts...) holds between steps; items of a
 * batch never depend on each other.
 */
export function nodeSteps(driver: NodeDriver, changes: readonly NodeChange[]): NodeStep[] {
  const steps: NodeStep[] = [];
  let run: NodeChange[] = [];
  let runKey: string | undefined;
  const flush = (): void => {
    if (run.length === 1) steps.push({ kind: 'one', change: run[0] as NodeChange });
    else if (run.length > 1) steps.push(batchStep(driver, run));
    run = [];
    runKey = undefined;
  };
  for (const c of changes) {
    const key = batchKey(driver, c);
    if (key === undefined || key !== runKey) flush();
    if (key === undefined) steps.push({ kind: 'one', change: c });
    else {
      run.push(c);
      runKey = key;
    }
  }
  flush();
  return steps;
}

function batchKey(driver: NodeDriver, c: NodeChange): string | undefined {
  switch (c.kind) {
    case 'image-file':
      if (c.action === 'create' && c.source !== undefined && driver.uploadImages !== undefined) return `upload ${c.pool}`;
      return c.action === 'delete' && driver.deleteVolumes !== undefined ? `delete ${c.pool}` : undefined;
    case 'volume':
      if (c.action === 'create' && driver.createVolumes !== undefined) return `create ${c.pool}`;
      return c.action === 'delete' && driver.deleteVolumes !== undefined ? `delete ${c.pool}` : undefined;
    case 'domain':
      if (c.action === 'delete') return driver.undefineDomains !== undefined ? 'undefine' : undefined;
      return c.xml !== undefined && driver.defineDomains !== undefined ? 'define' : undefined;
    default:
      return undefined;
  }
}

function batchStep(driver: NodeDriver, changes: NodeChange[]): NodeStep {
  const first = changes[0];
  if ((first?.kind === 'volume' || first?.kind === 'image-file') && first.action === 'delete') {
    const volumes = changes as (VolumeChange | ImageFileChange)[];
    return { kind: 'batch', changes, run: () => driver.deleteVolumes!(first.pool, volumes.map((c) => c.volume)) };
  }
  if (first?.kind === 'domain' && first.action === 'delete') {
    return { kind: 'batch', changes, run: () => driver.undefineDomains!((changes as DomainChange[]).map((c) => c.domain)) };
  }
  if (first?.kind === 'image-file') {
    const images = changes as ImageFileChange[];
    return {
      kind: 'batch',
      changes,
      run: async () =>
        driver.uploadImages!(
          first.pool,
          await Promise.all(images.map(async (c) => ({ volume: c.volume, localPath: c.source as string, sha256: c.sha256 ?? (await hashFile(c.source as string)) }))),
        ),
    };
  }
  if (first?.kind === 'volume') {
    const volumes = changes as VolumeChange[];
    return {
      kind: 'batch',
      changes,
      run: () =>
        driver.createVolumes!(
          first.pool,
          volumes.map((c) => ({ volume: c.volume, ...(c.capacityBytes === undefined ? {} : { capacityBytes: c.capacityBytes }), ...(c.backing === undefined ? {} : { backing: c.backing }) })),
        ),
    };
  }
  const domains = changes as DomainChange[];
  return { kind: 'batch', changes, run: () => driver.defineDomains!(domains.map((c) => ({ name: c.domain, xml: c.xml as string }))) };
}
