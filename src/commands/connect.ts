import * as Flags from '@oclif/core/flags';
import { createInterface } from 'node:readline/promises';
import { QvdCommand } from '../cli/base-command.js';
import { connect } from '../client/connect.js';
import type { QvdVm, SessionEnd } from '../client/connect-options.js';
import { nxproxyComplaints } from '../client/nx-tunnel.js';
import { InvalidInputError } from '../errors.js';

export type ConnectCommandResult = { readonly vms: readonly QvdVm[] } | { readonly vm: QvdVm; readonly end: SessionEnd };

export default class Connect extends QvdCommand<typeof Connect> {
  static override summary = 'Log in to an L7R and show your desktop (or list your VMs).';
  static override description =
    'Speaks the original QVD/1.0 protocol: lists the VMs, asks for one, shows the progress while it starts, then runs nxproxy on the local X display and pipes it through the TLS connection. ' +
    'The password comes from QVD_PASSWORD or a prompt. Exit 0 when the session ended normally, 1 on a failure (each status has its own message).';
  static override examples = [
    '<%= config.bin %> connect --host qvd.example.com --user alice --list',
    'QVD_PASSWORD=... <%= config.bin %> connect --host 10.0.0.11 --user alice --vm alice-desk --fingerprint SHA256:...',
  ];
  static override flags = {
    host: Flags.string({ description: 'L7R host name or address.', required: true }),
    port: Flags.integer({ description: 'L7R port.', default: 8443 }),
    user: Flags.string({ description: 'Login (user, user@tenant or user#tenant).', required: true }),
    vm: Flags.string({ description: 'VM name or id (default: your only VM).' }),
    list: Flags.boolean({ description: 'Only list your VMs.' }),
    fingerprint: Flags.string({ description: 'Pinned SHA-256 fingerprint of the L7R certificate (AA:BB:... or SHA256:base64).' }),
    ca: Flags.string({ description: 'PEM file of the CA that signed the L7R certificate.' }),
    display: Flags.string({ description: 'X display for the desktop (default $DISPLAY).' }),
    geometry: Flags.string({ description: 'WIDTHxHEIGHT of the desktop.' }),
    keyboard: Flags.string({ description: 'NX keyboard, e.g. pc105/us.' }),
    link: Flags.string({ description: 'NX link type.', default: 'lan', options: ['modem', 'isdn', 'adsl', 'wan', 'lan'] }),
    fullscreen: Flags.boolean({ description: 'Full screen desktop.' }),
  };

  async run(): Promise<ConnectCommandResult> {
    const f = this.flags;
    const password = process.env['QVD_PASSWORD'] ?? (await this.askPassword());
    const ca = f.ca === undefined ? undefined : await import('node:fs/promises').then((fs) => fs.readFile(f.ca as string, 'utf8'));
    const vm = f.vm === undefined ? undefined : /^\d+$/.test(f.vm) ? Number(f.vm) : f.vm;
    const result = await connect({
      host: f.host,
      port: f.port,
      user: f.user,
      password,
      ...(vm === undefined ? {} : { vm }),
      list: f.list,
      ...(f.fingerprint === undefined ? {} : { fingerprint: f.fingerprint }),
      ...(ca === undefined ? {} : { ca }),
      ...(f.display === undefined ? {} : { display: f.display }),
      ...(f.geometry === undefined ? {} : { geometry: f.geometry }),
      ...(f.keyboard === undefined ? {} : { keyboard: f.keyboard }),
      link: f.link,
      fullscreen: f.fullscreen,
      // Progress goes to stderr so that --json output stays clean.
      onProgress: (p) => process.stderr.write(`${p.message}\n`),
    });
    if (result.kind === 'list') {
      for (const v of result.vms) this.say(`${String(v.id).padStart(5)}  ${v.name.padEnd(24)} ${v.state}${v.blocked ? ' (blocked)' : ''}`);
      return { vms: result.vms };
    }
    this.say(`Connected to ${result.vm.name}: the desktop is on display ${f.display ?? process.env['DISPLAY'] ?? '?'}. Ctrl-C ends the session.`);
    const stop = (): void => void result.session.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const end = await result.session.closed;
    this.say(`Session ended (${end.reason}).`);
    // nxproxy ending a session on its own (refused cookie, X server refusing access; it may still exit 0) says why only in its log.
    const complaints = end.reason === 'nxproxy-exited' ? nxproxyComplaints(end.nxproxyLog, 8) : [];
    if (complaints.length > 0) this.say(`nxproxy (exit ${String(end.nxproxyExitCode)}) said:\n${complaints.join('\n')}`);
    return { vm: result.vm, end };
  }

  private async askPassword(): Promise<string> {
    if (process.stdin.isTTY !== true) throw new InvalidInputError('no password: set QVD_PASSWORD or run on a terminal to be asked');
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    // Do not echo the password.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
      if (s.includes('Password')) process.stderr.write(s);
    };
    try {
      return await rl.question('Password: ');
    } finally {
      rl.close();
      process.stderr.write('\n');
    }
  }
}
