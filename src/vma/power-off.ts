import type { ProcessRunner } from './process-runner.js';
import type { VmaLog } from './vma-log.js';

/**
 * Powers the guest off after the session has been stopped: the home disk is
 * unmounted first so the next boot finds a clean filesystem, the root is
 * remounted read-only (it is a throw-away overlay, but a clean journal boots
 * faster), then busybox asks the kernel to power off at once. The domain is
 * configured with on_poweroff=destroy, so libvirt sees it shut off.
 */
export async function powerOff(runner: ProcessRunner, log: VmaLog, homeMount = '/home'): Promise<void> {
  log.info('powering off');
  await runner.run('sync', []);
  const u = await runner.run('umount', [homeMount]);
  if (u.code !== 0 && !/not mounted|no mount point/i.test(u.stderr)) {
    log.warn(`umount ${homeMount}: ${u.stderr.trim()}; unmounting lazily`);
    await runner.run('umount', ['-l', homeMount]);
  }
  await runner.run('mount', ['-o', 'remount,ro', '/']);
  await runner.run('sync', []);
  const r = await runner.run('busybox', ['poweroff', '-f']);
  // Only reached if busybox could not do it: the kernel's own way.
  log.error(`busybox poweroff failed (${r.code}): ${r.stderr.trim()}; using sysrq`);
  await runner.run('sh', ['-c', 'echo o > /proc/sysrq-trigger']);
}
