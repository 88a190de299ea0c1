/**
 * One connection attempt to a lab pod, made from wherever the calling process runs (the probe
 * helpers run inside the source pod's namespace): TCP connects and reads the pod's greeting line
 * plus the echo of a payload; UDP sends a datagram and waits for its echo (a who-request's echo
 * comes after the pod's greeting line: src/core/pod-greeting.ts). Both resolve with what came
 * back and reject when nothing did within the timeout.
 */

import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { parseGreeting } from '../core/pod-greeting.js';

export function tcp(host: string, port: number, timeoutMs: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`tcp ${host}:${port}: timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(payload));
    sock.on('data', (b: Buffer) => {
      got += b.toString('utf8');
      // The greeting line plus the echo of our payload means the round trip worked.
      if (got.includes('\n') && got.includes(payload)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(got);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * `sourcePort`: send from this port (falling back to any free one when it is taken), so that a
 * caller can make sure the datagram starts a flow the kernel's conntrack has never seen (see
 * LabClient.probe). Only the echo of our own payload, from the destination, counts as an answer.
 */
export function udp(
  host: string,
  port: number,
  timeoutMs: number,
  payload: string,
  sourcePort?: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`udp ${host}:${port}: no echo within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('message', (msg, rinfo) => {
      // The echo of our payload, or (for a who-request) the pod's greeting line and then the echo.
      const text = msg.toString('utf8');
      const answered = text === payload || (parseGreeting(text) !== undefined && text.endsWith(`\n${payload}`));
      if (!answered || rinfo.port !== port) return;
      clearTimeout(timer);
      sock.close();
      resolve(text);
    });
    const send = () => sock.send(payload, port, host);
    const onError = (err: Error) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    };
    if (sourcePort === undefined) {
      sock.on('error', onError);
      send();
      return;
    }
    // A taken source port is not a failure of the probe: bind any port instead.
    sock.once('error', () => {
      sock.close();
      clearTimeout(timer);
      udp(host, port, timeoutMs, payload).then(resolve, reject);
    });
    sock.bind(sourcePort, () => {
      sock.removeAllListeners('error');
      sock.on('error', onError);
      send();
    });
  });
}
