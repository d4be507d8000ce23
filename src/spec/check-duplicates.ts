import { errorWithRelated, warningAt, type Diagnostic } from './diagnostic.js';
import type { SpecDocument } from './spec-document.js';
import { imageKey, userKey } from './spec-keys.js';

/**
 * One error per repeated key, at the repeat, naming where the key first
 * appeared. Keys come as a plain array (index = position in the section):
 * this runs over every VM on every plan.
 */
function duplicates(section: string, field: string, keys: readonly string[], describe: (key: string) => string, rule: string): Diagnostic[] {
  const first = new Map<string, number>();
  const out: Diagnostic[] = [];
  keys.forEach((key, i) => {
    const earlier = first.get(key);
    if (earlier === undefined) {
      first.set(key, i);
      return;
    }
    out.push(
      errorWithRelated(
        [section, i, field],
        `${section}[${i}]: ${describe(key)} is already defined by ${section}[${earlier}]`,
        `The first definition is ${section}[${earlier}]; ${rule}.`,
        [section, earlier, field],
      ),
    );
  });
  return out;
}

/** Names that must be unique: nodes, images (name:tag), users (login@tenant), VMs. */
export function checkDuplicates(document: SpecDocument): Diagnostic[] {
  const out = [
    ...duplicates('nodes', 'name', document.nodes.map((n) => n.name), (k) => `node name ${JSON.stringify(k)}`, 'node names must be unique'),
    ...duplicates('images', 'name', document.images.map((m) => imageKey(m.name, m.tag)), (k) => `image ${JSON.stringify(k)}`, 'each name:tag must be unique'),
    ...duplicates('users', 'login', (document.users ?? []).map((u) => userKey(u.login, u.tenant)), (k) => `user ${JSON.stringify(k)}`, 'each login must be unique within its tenant'),
    ...duplicates('vms', 'name', (document.vms ?? []).map((v) => v.name), (k) => `VM name ${JSON.stringify(k)}`, 'VM names must be unique'),
  ];
  // Two entries for one machine would double its capacity: probably a copy-paste slip, but not certainly (NAT, ports).
  const addressOwner = new Map<string, number>();
  document.nodes.forEach((node, i) => {
    const key = `${node.address.toLowerCase()}:${node.ssh?.port ?? 22}`;
    const earlier = addressOwner.get(key);
    if (earlier === undefined) addressOwner.set(key, i);
    else out.push(warningAt(['nodes', i, 'address'], `nodes[${i}] "${node.name}": address ${node.address} is also the address of nodes[${earlier}] "${document.nodes[earlier]?.name ?? ''}"`));
  });
  return out;
}
