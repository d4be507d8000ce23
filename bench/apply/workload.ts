// The work qvd's first apply does on one node, taken from `qvd plan --json`
// against the empty node, so that the Ansible playbook and the shell loop do
// exactly the same: one isolated network with its DHCP host entries, one dir
// pool, the image files (disk, kernel, initrd) uploaded, per VM a root overlay
// on the image and a home disk, and the same domain XML defined.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from './testnode.js';

export interface Workload {
  readonly storageDir: string;
  readonly pool: string;
  readonly network: { readonly name: string; readonly xml: string };
  readonly images: readonly { readonly volume: string; readonly source: string }[];
  readonly domains: readonly {
    readonly name: string;
    readonly xml: string;
    readonly root: { readonly volume: string; readonly backing: string };
    readonly home: { readonly volume: string; readonly bytes: number };
  }[];
}

interface PlanChange {
  kind: string;
  action: string;
  node?: string;
  name?: string;
  path?: string;
  pool?: string;
  volume?: string;
  source?: string;
  vm?: string;
  role?: string;
  domain?: string;
  xml?: string;
  capacityBytes?: number;
  backing?: { volume: string; format: string };
  desired?: unknown;
}

export async function workloadFromPlan(planJson: string, node: string): Promise<Workload> {
  const { renderNetworkXml } = (await import(pathToFileURL(join(REPO, 'dist/reconcile/render-network-xml.js')).href)) as { renderNetworkXml: (n: unknown) => string };
  const changes = (JSON.parse(planJson) as { changes: PlanChange[] }).changes.filter((c) => c.node === node && c.action === 'create');
  const net = changes.find((c) => c.kind === 'network');
  const pool = changes.find((c) => c.kind === 'pool');
  if (net?.name === undefined || net.desired === undefined || pool?.name === undefined || pool.path === undefined) throw new Error(`plan for ${node} has no network/pool create`);
  const images = changes.filter((c) => c.kind === 'image-file').map((c) => ({ volume: c.volume as string, source: c.source as string }));
  const vols = new Map(changes.filter((c) => c.kind === 'volume').map((c) => [`${c.vm}:${c.role}`, c]));
  const domains = changes
    .filter((c) => c.kind === 'domain')
    .map((c) => {
      const root = vols.get(`${c.vm}:root`);
      const home = vols.get(`${c.vm}:home`);
      if (c.xml === undefined || root?.backing === undefined || home?.capacityBytes === undefined) throw new Error(`plan for ${c.domain}: missing xml or volumes`);
      // Plans mask the per-VM agent secret (images with a VMA): such XML is not what qvd defines.
      if (c.xml.includes('(sensitive)')) throw new Error(`plan for ${c.domain}: its XML holds a masked secret; use an image without an agent (VMA)`);
      return {
        name: c.domain as string,
        xml: c.xml,
        root: { volume: root.volume as string, backing: root.backing.volume },
        home: { volume: home.volume as string, bytes: home.capacityBytes },
      };
    });
  return { storageDir: pool.path, pool: pool.name, network: { name: net.name, xml: renderNetworkXml(net.desired) }, images, domains };
}

export const poolXml = (w: Workload): string => `<pool type='dir'>\n  <name>${w.pool}</name>\n  <target>\n    <path>${w.storageDir}</path>\n  </target>\n</pool>\n`;
