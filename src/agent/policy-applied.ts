/**
 * run/policy-applied.json: the objects revision an agent's NetworkPolicy rules enforce, and when
 * they reached the kernel. The agent writes it after each sync that saw a new revision; `weft lab`
 * tooling and the benchmark read it to tell that a policy has landed on a node.
 */

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PolicyAppliedFile {
  revision: number;
  appliedAt: string;
  appliedAtMs: number;
}

export function policyAppliedPath(runDir: string): string {
  return join(runDir, 'policy-applied.json');
}

/** Replaces the file atomically (rename), so a reader never sees half of it. */
export function writePolicyApplied(runDir: string, applied: { revision: number; appliedAt: number }): void {
  const path = policyAppliedPath(runDir);
  const body: PolicyAppliedFile = { revision: applied.revision, appliedAt: new Date(applied.appliedAt).toISOString(), appliedAtMs: applied.appliedAt };
  writeFileSync(`${path}.tmp`, `${JSON.stringify(body)}\n`);
  renameSync(`${path}.tmp`, path);
}

/** The file's content, or undefined while the agent has not written it yet. */
export function readPolicyApplied(runDir: string): PolicyAppliedFile | undefined {
  try {
    return JSON.parse(readFileSync(policyAppliedPath(runDir), 'utf8')) as PolicyAppliedFile;
  } catch {
    return undefined;
  }
}
