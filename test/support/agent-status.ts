/**
 * What an agent in a test's node namespace says about itself: its /healthz (asked from inside the
 * namespace, where it listens on 127.0.0.1:9777) and its node-status.json.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inNs } from './netns.js';
import type { NodeStatusDocument } from '../../src/agent/node-status.js';

/** The agent's /healthz status and body, or undefined when it does not answer. */
export function agentHealth(ns: string): { status: number; body: string } | undefined {
  const r = inNs(ns, [
    process.execPath,
    '-e',
    "fetch('http://127.0.0.1:9777/healthz').then(async r => { process.stdout.write(r.status + '\\n' + await r.text()) }, () => process.exit(1))",
  ]);
  if (r.status !== 0) return undefined;
  const [status, ...body] = r.stdout.split('\n');
  return { status: Number(status), body: body.join('\n') };
}

/** The agent's node-status.json in its run dir, or undefined before it wrote one (or while it is torn). */
export function agentNodeStatus(runDir: string): NodeStatusDocument | undefined {
  try {
    return JSON.parse(readFileSync(join(runDir, 'node-status.json'), 'utf8')) as NodeStatusDocument;
  } catch {
    return undefined;
  }
}
