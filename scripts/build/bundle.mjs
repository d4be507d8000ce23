#!/usr/bin/env node
// Bundles the CLI into dist/qvd/ and writes oclif.manifest.json (run by `npm run build`, after tsc).
//
// Why: loading ~300 ESM files of dist/ and node_modules (kysely alone is ~250
// files) cost 0.5-0.9 s per command, more than a whole no-op plan may take.
// One bundle with one entry point per command, code-split so that `qvd plan`
// loads plan's code and not serve's, plus a manifest so that oclif lists
// commands and flags without importing any of them.
import { build } from 'esbuild';
import { bundleOptions } from './bundle-options.mjs';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const out = join(root, 'dist', 'qvd');

const commandFiles = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? commandFiles(join(dir, e.name)) : e.name.endsWith('.ts') && e.name !== 'index.ts' ? [join(dir, e.name)] : [],
  );

rmSync(out, { recursive: true, force: true });
await build({
  ...bundleOptions(root),
  entryPoints: ['src/cli/main.ts', ...commandFiles(join(root, 'src', 'commands')).map((f) => relative(root, f))],
  outdir: out,
  outbase: 'src',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
});

// What `oclif manifest` writes: every command's id, flags and help, so that
// start-up imports only the command that runs.
const { Plugin } = await import('@oclif/core');
const plugin = new Plugin({ root, isRoot: true, type: 'core', ignoreManifest: true, respectNoCacheDefault: true });
await plugin.load();
writeFileSync(join(root, 'oclif.manifest.json'), `${JSON.stringify(plugin.manifest, null, 1)}\n`);
