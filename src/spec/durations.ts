/**
 * Durations are whole seconds in the resolved state; the spec also accepts
 * `90s`, `5m`, `2h`, `1h30m`, `1d` because nobody wants to read 5400.
 */
const UNIT_SECONDS: Readonly<Record<string, number>> = { d: 86400, h: 3600, m: 60, s: 1 };
const DURATION = /^(?=[0-9])(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$/;

/** Seconds, or undefined for anything the schema would have rejected. */
export function parseDuration(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = DURATION.exec(value);
  if (match === null) return undefined;
  let total = 0;
  ['d', 'h', 'm', 's'].forEach((unit, i) => {
    const count = match[i + 1];
    if (count !== undefined) total += Number(count) * (UNIT_SECONDS[unit] ?? 0);
  });
  return Number.isSafeInteger(total) ? total : undefined;
}
