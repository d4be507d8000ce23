#!/usr/bin/env node
// Plays nxproxy for the client's unit tests: reads the options file it is
// given (-S nx/nx,options=FILE:N), connects to the port, says hello with the
// cookie, waits for the agent's hello, records what it saw next to itself.
// mode file next to it: "exit" -> exit 0 after the exchange; "wait" -> exit
// 3 when the tunnel closes.
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';

const here = dirname(process.argv[1]);
const mode = readFileSync(join(here, 'mode'), 'utf8').trim();
const display = process.argv[3];
const file = /options=([^:]+):/.exec(display)[1];
const options = readFileSync(file, 'utf8').trim();
const port = Number(/port=(\d+)/.exec(options)[1]);
const cookie = /cookie=([0-9a-f]+)/.exec(options)?.[1] ?? null;
const socket = connect(port, '127.0.0.1');
let got = '';
socket.on('connect', () => socket.write(`hello-from-proxy cookie=${cookie}\n`));
socket.on('data', (c) => {
  got += c.toString();
  if (got.includes('hello-from-agent')) {
    writeFileSync(join(here, 'result.json'), JSON.stringify({ argv: process.argv.slice(2), options, env: { DISPLAY: process.env.DISPLAY, NX_ROOT: process.env.NX_ROOT }, got }));
    if (mode === 'exit') socket.end(() => process.exit(0));
  }
});
socket.on('close', () => {
  process.stderr.write('Info: Connection with remote proxy completed.\nError: Connection with remote peer broken.\n');
  process.exit(3);
});
socket.on('error', () => process.exit(4));
