import { QvdCommand } from '../../cli/base-command.js';
import { specFlag } from '../../cli/flags.js';
import type { LockHolder } from '../../state/store.js';
import { openStoreForSpec } from '../../usecases/open-store-for-spec.js';

export default class StateUnlock extends QvdCommand<typeof StateUnlock> {
  static override summary = 'Remove the apply lock whoever holds it (after an apply died on another machine).';
  static override description = 'A lock left by a dead process on this machine is taken over automatically; use this only for a holder you know is gone.';
  static override flags = { file: specFlag };

  async run(): Promise<{ removed: LockHolder | null }> {
    const store = await openStoreForSpec(this.flags.file);
    try {
      const holder = await store.forceUnlock();
      this.say(holder === undefined ? 'The state was not locked.' : `Removed the lock of ${holder.operation} (pid ${holder.pid} on ${holder.host}, since ${holder.since}).`);
      return { removed: holder ?? null };
    } finally {
      await store.close();
    }
  }
}
