import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { TestNode } from '../../support/testenv.js';

const run = promisify(execFile);

/**
 * Lets two test nodes reach each other's address, as the nodes of a real
 * cluster reach each other's L7R: a host route in each node's namespace to
 * the other's address via the host end of its veth, and forwarding switched
 * on for packets arriving on those two veths only (the host's global
 * forwarding, and its routes that keep 10.213/16 and 10.214/16 from leaving
 * the machine, stay as they are). The guests' networks stay unreachable
 * from the other node. Returns the undo.
 */
export async function routeNodes(a: TestNode, b: TestNode): Promise<() => Promise<void>> {
  const undo: (() => Promise<unknown>)[] = [];
  const restore = async (): Promise<void> => {
    for (const step of undo.splice(0).reverse()) await step().catch((e: Error) => console.error(`undoing a test route: ${e.message}`));
  };
  try {
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      await run('ip', ['-n', from.netns, 'route', 'add', `${to.address}/32`, 'via', from.hostAddress]);
      undo.push(() => run('ip', ['-n', from.netns, 'route', 'del', `${to.address}/32`]));
    }
    for (const n of [a, b]) {
      const setting = `/proc/sys/net/ipv4/conf/qvdh${n.index}/forwarding`;
      const before = (await readFile(setting, 'utf8')).trim();
      await run('sysctl', ['-qw', `net.ipv4.conf.qvdh${n.index}.forwarding=1`]);
      undo.push(() => run('sysctl', ['-qw', `net.ipv4.conf.qvdh${n.index}.forwarding=${before}`]));
    }
  } catch (error) {
    await restore();
    throw error;
  }
  return restore;
}
