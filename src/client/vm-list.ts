import { ConnectError } from './connect-error.js';
import type { QvdVm } from './connect-options.js';

/** `/qvd/list_of_vm`'s body, checked: a JSON array of `{id, name, state, blocked}`. */
export function parseVmList(body: string): QvdVm[] {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ConnectError('protocol', 'the VM list is not JSON', false);
  }
  if (!Array.isArray(json)) throw new ConnectError('protocol', 'the VM list is not a JSON array', false);
  return json.map((v: unknown) => {
    const o = v as Record<string, unknown>;
    const id = typeof o['id'] === 'string' ? Number(o['id']) : o['id'];
    if (typeof o !== 'object' || o === null || typeof id !== 'number' || !Number.isInteger(id)) throw new ConnectError('protocol', `bad VM entry in the list: ${JSON.stringify(v)}`, false);
    return { id, name: String(o['name'] ?? id), state: String(o['state'] ?? 'unknown'), blocked: o['blocked'] === true || o['blocked'] === 1 || o['blocked'] === '1' };
  });
}

/** The VM to connect to: by id or name, or the only one. */
export function chooseVm(vms: readonly QvdVm[], wanted: string | number | undefined): QvdVm {
  const names = vms.map((v) => `${v.name} (${v.id})`).join(', ');
  if (vms.length === 0) throw new ConnectError('no-vm', 'this user has no VM', false, { hint: 'ask your administrator to assign one' });
  let vm: QvdVm | undefined;
  if (wanted === undefined) {
    if (vms.length > 1) throw new ConnectError('no-vm', `this user has ${vms.length} VMs: ${names}; choose one`, false, { hint: 'pass the VM name or id' });
    vm = vms[0];
  } else if (typeof wanted === 'number') {
    vm = vms.find((v) => v.id === wanted);
  } else {
    vm = vms.find((v) => v.name === wanted) ?? (/^\d+$/.test(wanted) ? vms.find((v) => v.id === Number(wanted)) : undefined);
  }
  if (vm === undefined) throw new ConnectError('not-found', `no VM ${JSON.stringify(wanted)} for this user; there is ${names}`, false);
  if (vm.blocked) throw new ConnectError('forbidden', `VM ${vm.name} is blocked`, false, { hint: 'ask your administrator to unblock it' });
  return vm;
}
