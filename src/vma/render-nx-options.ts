import { NX_DISPLAY, NX_PORT, type XStartParams } from './vma-api.js';

/**
 * The content of nxagent's options file (`-display nx/nx,options=FILE:100`).
 * nxagent re-reads this file on every resume (SIGHUP), which is how a new
 * connection's cookie and geometry reach an existing session.
 *
 * `listen` makes the agent's proxy wait for the client's nxproxy on 4100;
 * `cookie` is what that nxproxy must present (a wrong one ends the attempt).
 * Values were validated by parse-x-start-params.ts: none contains `,` `:` or `=`.
 */
export function renderNxOptions(p: XStartParams, display = NX_DISPLAY, port = NX_PORT): string {
  const options: [string, string][] = [['link', p.link ?? 'lan']];
  if (p.geometry !== undefined) options.push(['geometry', p.geometry]);
  if (p.keyboard !== undefined) options.push(['keyboard', p.keyboard]);
  if (p.fullscreen !== undefined) options.push(['fullscreen', p.fullscreen ? '1' : '0']);
  if (p.client !== undefined) options.push(['client', p.client]);
  options.push(['listen', String(port)], ['cookie', p.cookie]);
  return `nx/nx,${options.map(([k, v]) => `${k}=${v}`).join(',')}:${display}\n`;
}
