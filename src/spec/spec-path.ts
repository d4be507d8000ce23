/** A position in the document as keys and indexes, e.g. ["vms", 3, "power"]. */
export type SpecPath = readonly (string | number)[];

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Renders a path the way users read it: `vms[3].power`, `nodes[0].labels["a b"]`. */
export function formatPath(path: SpecPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (IDENTIFIER.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out === '' ? 'top level' : out;
}

/** Splits an RFC 6901 JSON pointer (what ajv reports) into a path; numeric segments become indexes. */
export function pathFromJsonPointer(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => {
      const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      return /^(?:0|[1-9][0-9]*)$/.test(segment) ? Number(segment) : segment;
    });
}
