/**
 * Entry point of the VMA inside the guest (bundled into /opt/qvd/vma.js for
 * the guest's Node 18). PID 1 starts it with stdout on the serial console,
 * where every log line is one JSON object.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { uptime } from 'node:os';
import { destination, pino, stdTimeFunctions } from 'pino';
import { NodeProcessRunner } from './node-process-runner.js';
import { powerOff } from './power-off.js';
import { SystemProvisioner } from './provision-user.js';
import { createVmaServer } from './rpc-server.js';
import { TmpfsSessionFiles } from './session-files.js';
import { vmaHandlers } from './vma-handlers.js';
import { loadVmaConfig, readSecret } from './vma-config.js';
import type { VmaLog } from './vma-log.js';
import { XSession } from './x-session.js';

declare const QVD_VMA_VERSION: string | undefined;
const version = typeof QVD_VMA_VERSION === 'string' ? QVD_VMA_VERSION : 'dev';

async function main(): Promise<void> {
  const startedAt = Date.now();
  // Synchronous writes: the last lines before a power-off must reach the console.
  const logger = pino({ base: { name: 'qvd-vma' }, timestamp: stdTimeFunctions.isoTime }, destination({ dest: 1, sync: true }));
  const log: VmaLog = {
    info: (msg, f) => logger.info(f ?? {}, msg),
    warn: (msg, f) => logger.warn(f ?? {}, msg),
    error: (msg, f) => logger.error(f ?? {}, msg),
  };
  const config = await loadVmaConfig(process.env['QVD_VMA_CONFIG'] ?? '/etc/qvd/vma.json');
  const secret = await readSecret(config.secretFile);
  if (secret === undefined) log.error(`no VMA secret in ${config.secretFile}: every call will be refused (boot the VM with qvd.vma_secret=...)`);

  const runner = new NodeProcessRunner();
  const session = new XSession({
    runner,
    provisioner: new SystemProvisioner(runner, config.homeDevice, (m) => log.info(m)),
    files: new TmpfsSessionFiles(runner, config.runDir, config.display),
    sessionCommand: config.sessionCommand,
    display: config.display,
    log,
  });
  let off: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (off ??= (async () => {
      await Promise.race([session.stop(), new Promise((r) => setTimeout(r, 15_000))]);
      await powerOff(runner, log);
    })().catch((e: unknown) => log.error(`power-off failed: ${(e as Error).message}`)));

  const server = createVmaServer(vmaHandlers({ session, version, startedAt, powerOff: shutdown }), () => secret, log);
  server.listen(config.port, config.address, () => log.info('VMA listening', { port: config.port, version, startupMs: Date.now() - startedAt, processUptime: process.uptime(), guestUptime: uptime() }));
  server.on('error', (e) => {
    log.error(`VMA server: ${e.message}`);
    process.exit(1);
  });

  // acpid's power-button handler signals us, so `virsh shutdown` ends the session cleanly.
  process.on('SIGUSR2', () => void shutdown());
  process.on('SIGTERM', () => void session.stop().then(() => process.exit(0)));
  await mkdir('/run/qvd', { recursive: true });
  await writeFile('/run/qvd/vma.pid', `${process.pid}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`qvd-vma: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
