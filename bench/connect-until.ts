#!/usr/bin/env node
/**
 * For each line "HOST PORT" on stdin: tries TCP connects to HOST:PORT, each given 20 ms, one after
 * another until one is established, then prints `{"host":H,"at":T}` with T the wall-clock time
 * (ms since the epoch) of the connection. Run inside a lab pod's namespace by the guard benchmark,
 * so that a pod's first reachable moment is seen within ~20 ms without a process start per try.
 *
 * A line "HOST PORT fail" does the opposite (the kube benchmark's policy enforcement): connects
 * until one is not established within 100 ms, and prints the start time of the first attempt of
 * three failing in a row (a policy drops the SYN, so a failure is a timeout; on a busy machine a
 * single slow connect is not taken for the policy).
 */

import { connect } from 'node:net';
import { createInterface } from 'node:readline';

function attempt(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
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

/** The start time of the first of `inRow` consecutive failed connects. */
async function untilFails(host: string, port: number, inRow: number): Promise<number> {
  let firstFailedAt = 0;
  let failed = 0;
  while (failed < inRow) {
    const started = Date.now();
    if (await attempt(host, port, 100)) failed = 0;
    else if (failed++ === 0) firstFailedAt = started;
  }
  return firstFailedAt;
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const [host, portText, mode] = line.trim().split(/\s+/);
  if (!host || !portText) continue;
  if (mode === 'fail') {
    const at = await untilFails(host, Number(portText), 3);
    process.stdout.write(`${JSON.stringify({ host, at })}\n`);
    continue;
  }
  while (!(await attempt(host, Number(portText), 20))) {
    // next try
  }
  process.stdout.write(`${JSON.stringify({ host, at: Date.now() })}\n`);
}
