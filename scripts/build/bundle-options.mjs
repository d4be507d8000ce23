// esbuild options shared by the CLI bundle and the benchmarks that must load code the way the CLI does.
export const bundleOptions = (root) => ({
  absWorkingDir: root,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // Native addons stay in node_modules; typescript is only oclif's dev-mode
  // loader; hash-wasm's UMD build does not survive bundling and is loaded
  // on demand anyway.
  external: ['better-sqlite3', '@unraid/libvirt', 'ssh2', 'cpu-features', 'pg-native', 'typescript', 'hash-wasm'],
  // CommonJS packages inside an ESM bundle still call require().
  banner: { js: "import { createRequire as qvdCreateRequire } from 'node:module'; const require = qvdCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
