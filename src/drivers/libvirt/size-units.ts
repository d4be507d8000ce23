/**
 * libvirt's scaled integers (`<memory unit='KiB'>`, `<capacity unit='bytes'>`):
 * decimal units are powers of 1000, binary and single-letter ones of 1024.
 */
const factors: Record<string, number> = {
  b: 1, bytes: 1,
  kb: 1e3, k: 1024, kib: 1024,
  mb: 1e6, m: 1024 ** 2, mib: 1024 ** 2,
  gb: 1e9, g: 1024 ** 3, gib: 1024 ** 3,
  tb: 1e12, t: 1024 ** 4, tib: 1024 ** 4,
  pb: 1e15, p: 1024 ** 5, pib: 1024 ** 5,
  eb: 1e18, e: 1024 ** 6, eib: 1024 ** 6,
};

/** Bytes of `value` in `unit`; `defaultUnit` is what libvirt assumes when the attribute is absent. */
export function toBytes(value: string | undefined, unit: string | undefined, defaultUnit: string): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  const factor = factors[(unit ?? defaultUnit).toLowerCase()];
  if (factor === undefined) return undefined;
  return Number(value.trim()) * factor;
}

export const bytesPerMiB = 1024 * 1024;
