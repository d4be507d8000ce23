import { execute } from '@oclif/core';

// Bundled with oclif itself into dist/qvd (scripts/build/bundle.mjs), so that
// the commands and oclif share one copy and start-up reads a few files only.
await execute({ dir: import.meta.url });
