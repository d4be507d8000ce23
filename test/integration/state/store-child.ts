// Runs in a child process (see store-child-process.ts), compiled to plain JS,
// so that cross-process tests exercise the real store code.
//   store-child CONFIG open            open (migrate) the state, print its serial, exit
//   store-child CONFIG hold OPERATION  take the apply lock, print the holder as one
//                                      JSON line, hold it until "release" on stdin
import { createInterface } from 'node:readline';
import { openStore, type StoreConfig } from '../../../src/state/open-store.js';

const config = JSON.parse(process.argv[2] ?? '') as StoreConfig;
const command = process.argv[3];
const store = await openStore(config);

if (command === 'open') {
  process.stdout.write(`${JSON.stringify({ serial: await store.serial() })}\n`);
} else if (command === 'hold') {
  const holder = await store.acquireLock(process.argv[4] ?? 'child-apply', 0);
  process.stdout.write(`${JSON.stringify(holder)}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === 'release') break;
  }
  await store.releaseLock(holder.id);
} else {
  throw new Error(`store-child: unknown command ${command}`);
}
await store.close();
