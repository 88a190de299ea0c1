#!/usr/bin/env node
/**
 * For each line "HOST PORT" on stdin: tries TCP connects to HOST:PORT, each given 20 ms, one after
 * another until one is established, then prints `{"host":H,"at":T}` with T the wall-clock time
 * (ms since the epoch) of the connection. Run inside a lab pod's namespace by the guard benchmark,
 * so that a pod's first reachable moment is seen within ~20 ms without a process start per try.
 */

import { connect } from 'node:net';
import { createInterface } from 'node:readline';

function attempt(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 20);
    s.once('connect', () => {
      clearTimeout(timer);
      s.resetAndDestroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(timer);
      s.destroy();
      // A refused connect (no listener yet) comes back at once: wait a little before the next.
      setTimeout(() => resolve(false), 2);
    });
  });
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const [host, portText] = line.trim().split(/\s+/);
  if (!host || !portText) continue;
  while (!(await attempt(host, Number(portText)))) {
    // next try
  }
  process.stdout.write(`${JSON.stringify({ host, at: Date.now() })}\n`);
}
