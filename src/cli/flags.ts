import * as Flags from '@oclif/core/flags';

/** Flags several commands share, defined once. */
export const specFlag = Flags.string({ char: 'f', description: 'The spec file.', default: 'qvd.yaml', helpValue: 'FILE' });
export const targetFlag = Flags.string({ description: 'Only this VM or node (and what it needs); repeatable.', multiple: true, default: [], helpValue: 'NAME' });
export const purgeHomesFlag = Flags.boolean({ description: 'Also delete home disks of VMs that are gone (they are kept by default).' });
export const parallelismFlag = Flags.integer({ description: 'How many nodes to work on at once.', default: 8, min: 1 });
export const lockTimeoutFlag = Flags.string({ description: 'How long to wait for another apply to release the state lock (e.g. 30s, 5m; 0 fails at once).', default: '0s', helpValue: 'DURATION' });
export const autoApproveFlag = Flags.boolean({ description: 'Apply without asking (required when there is no terminal).' });

/** What apply and destroy both take. */
export const applyFlags = {
  file: specFlag,
  'auto-approve': autoApproveFlag,
  parallelism: parallelismFlag,
  target: targetFlag,
  'lock-timeout': lockTimeoutFlag,
  'purge-homes': purgeHomesFlag,
};
