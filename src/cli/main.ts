import { execute } from '@oclif/core/execute';
import { trace, tracing } from '../trace.js';

trace('cli: main module loaded');
if (tracing) process.on('exit', () => trace('exit'));

// Bundled with oclif itself into dist/qvd (scripts/build/bundle.mjs), so that
// the commands and oclif share one copy and start-up reads a few files only.
await execute({ dir: import.meta.url });
