import type { DesiredSettings } from './desired-state.js';

/**
 * The settings as one flat map, every leaf keyed by its path in the spec's
 * spelling (`hkd.idle_stop`, `l7r.tls.generate`), durations in seconds;
 * without the database, which is where the store itself lives rather than
 * something the store records. What the store keeps of the settings, what
 * plan compares, and what a running serve compares when it reloads the spec.
 */
export function flattenSettings(settings: DesiredSettings): Record<string, string | number | boolean> {
  const { database: _where, ...recorded } = settings;
  const out: Record<string, string | number | boolean> = {};
  const walk = (value: unknown, path: string): void => {
    if (value !== null && typeof value === 'object') for (const [key, inner] of Object.entries(value)) walk(inner, path === '' ? snakeCase(key) : `${path}.${snakeCase(key)}`);
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[path] = value;
  };
  walk(recorded, '');
  return out;
}

const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/** Paths whose value differs between two flat maps, or that only one has. */
export function changedSettings(before: Readonly<Record<string, unknown>>, after: Readonly<Record<string, unknown>>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => before[name] !== after[name]).sort();
}
