import { createRequire } from 'node:module';

type YamlModule = typeof import('yaml');

let loaded: YamlModule | undefined;

/**
 * The `yaml` package, loaded on first use. It serves only the error path
 * (positions, syntax messages) and costs ~50 ms to load, a tenth of a no-op
 * plan's budget. Loaded with require so the callers stay synchronous.
 */
export function yamlModule(): YamlModule {
  loaded ??= createRequire(import.meta.url)('yaml') as YamlModule;
  return loaded;
}
