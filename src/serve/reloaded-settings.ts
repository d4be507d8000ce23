import type { DesiredSettings } from '../spec/desired-state.js';
import { changedSettings, flattenSettings, READ_AT_START } from '../spec/settings-record.js';

/** What a reloaded spec changes for a running serve: what it applies now, and what waits for a restart. */
export function reloadedSettings(previous: DesiredSettings, next: DesiredSettings): { readonly changed: readonly string[]; readonly needRestart: readonly string[] } {
  const changed = changedSettings(flattenSettings(previous), flattenSettings(next));
  return { changed, needRestart: changed.filter((name) => READ_AT_START.test(name)) };
}
