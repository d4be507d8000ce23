/** Parameters a client may pass to the VM: the original L7R refuses any other. */
const ALLOWED_PARAM = /^(?:qvd\.client\.|custom\.)/;

/** 422 without `id`, 403 for a parameter that is neither `id`, `qvd.client.*` nor `custom.*`. */
export function checkSessionParams(params: ReadonlyMap<string, string>): { readonly status: 403 | 422; readonly message: string } | undefined {
  if (!params.has('id')) return { status: 422, message: 'parameter id is missing' };
  const forbidden = [...params.keys()].filter((name) => name !== 'id' && !ALLOWED_PARAM.test(name));
  if (forbidden.length > 0) return { status: 403, message: `Invalid parameters ${forbidden.join(' ')}` };
  return undefined;
}

/** The parameters handed to the VMA (everything but `id`). */
export function clientParams(params: ReadonlyMap<string, string>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of params) if (name !== 'id') result[name] = value;
  return result;
}

/** A VM id as the wire carries it: decimal digits; anything else names no VM. */
export function parseVmId(text: string): number | undefined {
  if (!/^[0-9]{1,15}$/.test(text)) return undefined;
  return Number(text);
}
