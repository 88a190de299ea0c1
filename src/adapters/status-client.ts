/**
 * The client side of an agent's status server on its unix socket (src/adapters/status-server.ts):
 * `weft flows` reads each node's flow ring (GET /flows) and follows new flows (GET
 * /flows?follow=1, JSON lines) through the socket file in the node's run dir, so it needs no
 * way into the node's network namespace.
 */

import { request } from 'node:http';
import type { Flow } from '../core/flows/flow.js';

export interface NodeFlows {
  node: string;
  capacity: number;
  flows: Flow[];
}

/** GET /flows over the socket; rejects with the socket and the reason (no agent, flow logging off, ...). */
export function getNodeFlows(socketPath: string, timeoutMs: number): Promise<NodeFlows> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`read flows from ${socketPath}: ${why}`));
    const req = request({ socketPath, path: '/flows', timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        if (res.statusCode !== 200) return fail(`HTTP ${res.statusCode}: ${text.trim()}`);
        try {
          resolve(JSON.parse(text) as NodeFlows);
        } catch (err) {
          fail(`not JSON: ${(err as Error).message}`);
        }
      });
      res.on('error', (err) => fail(err.message));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => fail(err.message));
    req.end();
  });
}

/**
 * GET /flows?follow=1: calls onFlow for each new flow until `signal` aborts or the agent closes
 * the stream. Resolves once the agent answered (the follow has started); `ended` settles when the
 * stream ends (rejecting on an error other than the abort).
 */
export function followNodeFlows(
  socketPath: string,
  onFlow: (f: Flow) => void,
  signal: AbortSignal,
): Promise<{ ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/flows?follow=1', signal }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`follow flows on ${socketPath}: HTTP ${res.statusCode}`));
        return;
      }
      let buffered = '';
      res.setEncoding('utf8');
      const ended = new Promise<void>((done) => {
        res.on('data', (chunk: string) => {
          buffered += chunk;
          for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            if (line.trim() !== '') onFlow(JSON.parse(line) as Flow);
          }
        });
        res.on('end', () => done());
        res.on('error', () => done());
        res.on('close', () => done());
      });
      resolve({ ended });
    });
    req.on('error', (err) => {
      if (!signal.aborted) reject(new Error(`follow flows on ${socketPath}: ${err.message}`, { cause: err }));
    });
    req.end();
  });
}
