import * as Flags from '@oclif/core/flags';
import { pino } from 'pino';
import { QvdCommand } from '../cli/base-command.js';
import { specFlag } from '../cli/flags.js';
import { parseHostPort } from '../serve/parse-host-port.js';
import { startServe } from '../serve/run-serve.js';

export interface ServeResult {
  readonly node: string;
  readonly stoppedBy: string;
}

export default class Serve extends QvdCommand<typeof Serve> {
  static override summary = 'Run the L7R and the HKD of one node until SIGTERM.';
  static override description =
    'The HKD starts, stops and watches the VMs of --node against the store; the L7R answers QVD clients. ' +
    'Logs are JSON lines (pino) on stdout; /metrics and /healthz are on the admin listener. ' +
    'SIGTERM or SIGINT: stop accepting, let tunnels drain (bounded), stop the loop, close the store. VMs keep running. ' +
    'SIGHUP: read the L7R certificate and key files again.';
  static override examples = ['<%= config.bin %> serve -f /etc/qvd/qvd.yaml --node node-a', '<%= config.bin %> serve -f qvd.yaml --node node-a --no-l7r --admin-listen 127.0.0.1:9100'];
  static override enableJsonFlag = false;
  static override flags = {
    file: specFlag,
    node: Flags.string({ description: 'The node this process serves (a name from the spec).', required: true, helpValue: 'NAME' }),
    l7r: Flags.boolean({ description: 'Run the L7R (--no-l7r: HKD only).', default: true, allowNo: true }),
    hkd: Flags.boolean({ description: 'Run the HKD (--no-hkd: L7R only).', default: true, allowNo: true }),
    listen: Flags.string({ description: 'L7R address (default: settings.l7r).', helpValue: 'ADDR:PORT' }),
    'admin-listen': Flags.string({ description: 'Metrics and health endpoint; "off" for none.', default: '127.0.0.1:8444', helpValue: 'ADDR:PORT' }),
    'drain-timeout': Flags.integer({ description: 'Seconds SIGTERM lets open tunnels run before cutting them.', default: 10, min: 0 }),
  };

  async run(): Promise<ServeResult> {
    const f = this.flags;
    const logger = pino({ name: 'qvd-serve', level: process.env['QVD_LOG_LEVEL'] ?? 'info' });
    const admin = f['admin-listen'] === 'off' ? null : parseHostPort(f['admin-listen'], '--admin-listen');
    const serve = await startServe({
      file: f.file,
      node: f.node,
      l7r: f.l7r,
      hkd: f.hkd,
      ...(f.listen === undefined ? {} : { listen: parseHostPort(f.listen, '--listen') }),
      adminListen: admin,
      logger,
      drainMs: f['drain-timeout'] * 1000,
    });
    logger.info({ l7rPort: serve.l7rPort, adminPort: serve.adminPort, store: serve.store }, 'serve ready');
    // The usual daemon convention: renewed certificate files are picked up without a restart.
    const onHangup = (): void => void serve.reloadTls();
    process.on('SIGHUP', onHangup);
    const signal = await new Promise<string>((resolve) => {
      for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => resolve(s));
    });
    logger.info({ signal }, 'shutting down');
    process.off('SIGHUP', onHangup);
    await serve.stop();
    logger.flush();
    return { node: f.node, stoppedBy: signal };
  }
}
