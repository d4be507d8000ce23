/** virsh's `Key:   value` listings (net-info, pool-info), read in the C locale. */
export function keyValues(body: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of lines(body)) {
    const index = line.indexOf(':');
    if (index > 0) map.set(line.slice(0, index).trim(), line.slice(index + 1).trim());
  }
  return map;
}

/** Non-empty, trimmed lines (virsh pads listings and ends them with blank lines). */
export function lines(body: string): string[] {
  return body.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}
