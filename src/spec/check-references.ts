import { errorAt, warningAt, type Diagnostic } from './diagnostic.js';
import { closestMatch } from './did-you-mean.js';
import type { SpecDocument } from './spec-document.js';
import { imageKey, imageKeysFromRefs, userKey, userKeyFromRef } from './spec-keys.js';

/**
 * Suggestions cost an edit-distance scan of every candidate; a spec whose
 * users section went missing would otherwise scan 10,000 x 5,000 names.
 */
const MAX_SUGGESTIONS = 100;

/** VMs name their user, image and node: each must exist. */
export function checkReferences(document: SpecDocument): Diagnostic[] {
  const out: Diagnostic[] = [];
  const users = new Set((document.users ?? []).map((u) => userKey(u.login, u.tenant)));
  const images = new Set(document.images.map((m) => imageKey(m.name, m.tag)));
  // Hints for the error path only: built on the first miss.
  let tenantsByLogin: Map<string, string[]> | undefined;
  const tenantsOf = (login: string): string[] | undefined =>
    (tenantsByLogin ??= groupBy(document.users ?? [], (u) => u.login, (u) => userKey(u.login, u.tenant))).get(login);
  let tagsByName: Map<string, string[]> | undefined;
  const imageTags = (): Map<string, string[]> => (tagsByName ??= groupBy(document.images, (m) => m.name, (m) => m.tag ?? 'default'));
  const nodes = new Map(document.nodes.map((n) => [n.name, n]));
  let suggestions = 0;
  const suggest = (word: string, candidates: Iterable<string>): string => {
    if (suggestions >= MAX_SUGGESTIONS) return '';
    suggestions++;
    const match = closestMatch(word, candidates);
    return match === undefined ? '' : ` (did you mean ${JSON.stringify(match)}?)`;
  };

  const imageKeyOf = imageKeysFromRefs();
  (document.vms ?? []).forEach((vm, i) => {
    // Built only on the error path: this loop runs once per VM on every plan.
    const owner = (): string => `vms[${i}] ${JSON.stringify(vm.name)}`;
    if (!users.has(userKeyFromRef(vm.user))) {
      const login = vm.user.split('@')[0] ?? vm.user;
      const elsewhere = tenantsOf(login);
      const hint = elsewhere !== undefined ? ` (did you mean ${elsewhere.map((k) => JSON.stringify(k)).join(' or ')}?)` : suggest(vm.user, users);
      out.push(
        errorAt(
          ['vms', i, 'user'],
          `${owner()}: user ${JSON.stringify(vm.user)} is not defined in users${hint}`,
          vm.user.includes('@') ? undefined : 'A user outside the default tenant is written login@tenant.',
        ),
      );
    }
    const key = imageKeyOf(vm.image);
    if (!images.has(key)) {
      const name = key.slice(0, key.indexOf(':'));
      const tags = imageTags().get(name);
      const hint =
        tags !== undefined
          ? ` (image ${JSON.stringify(name)} has the tag${tags.length > 1 ? 's' : ''} ${tags.join(', ')}; write ${JSON.stringify(`${name}:${tags[0] ?? ''}`)})`
          : suggest(vm.image, [...imageTags().keys()]);
      out.push(errorAt(['vms', i, 'image'], `${owner()}: image ${JSON.stringify(vm.image)} is not defined in images${hint}`));
    }
    if (vm.node !== undefined) {
      const node = nodes.get(vm.node);
      if (node === undefined) {
        out.push(errorAt(['vms', i, 'node'], `${owner()}: node ${JSON.stringify(vm.node)} is not defined in nodes${suggest(vm.node, nodes.keys())}`));
      } else if (node.blocked === true) {
        out.push(
          warningAt(
            ['vms', i, 'node'],
            `${owner()}: it is fixed on node ${JSON.stringify(vm.node)}, which is blocked`,
            'A blocked node keeps the VMs fixed on it but takes no others. Remove `node` to let qvd move the VM.',
          ),
        );
      }
    }
  });
  return out;
}

function groupBy<T>(items: readonly T[], key: (t: T) => string, value: (t: T) => string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list === undefined) out.set(k, [value(item)]);
    else list.push(value(item));
  }
  return out;
}
