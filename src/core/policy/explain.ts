/**
 * `weft explain FROM TO --port P`: a verdict of evaluate.ts in words, naming the policies that
 * isolate each end and the rule (policy and index, as `spec.egress[i]` / `spec.ingress[i]`) that
 * allows each direction, or saying that none does.
 */

import type { DirectionVerdict, Verdict } from './evaluate.js';

function direction(v: DirectionVerdict): string[] {
  const field = v.direction === 'Egress' ? 'egress' : 'ingress';
  const what = v.direction === 'Egress' ? `egress from ${v.pod}` : `ingress to ${v.pod}`;
  if (v.isolatedBy.length === 0)
    return [`  ${what}: allowed (no policy selects ${v.pod} for ${v.direction}, so it is not isolated)`];
  const lines = [
    `  ${what}: ${v.allowed ? 'allowed' : 'DENIED'}; ${v.pod} is isolated for ${v.direction} by ${v.isolatedBy.join(', ')}`,
  ];
  if (v.allowed) for (const r of v.allowedBy) lines.push(`    allowed by ${r.policy} spec.${field}[${r.rule}]`);
  else
    lines.push(
      `    no ${field} rule of ${v.isolatedBy.length === 1 ? 'that policy' : 'those policies'} matches this peer and port`,
    );
  return lines;
}

export function explainVerdict(from: string, to: string, port: number, protocol: string, v: Verdict): string {
  const head = `${from} -> ${to} on ${port}/${protocol}: ${v.allowed ? 'ALLOWED' : 'DENIED'}`;
  if (v.self) return `${head}\n  a pod can always reach itself (Kubernetes: a pod cannot block access to itself)\n`;
  return [head, ...direction(v.egress), ...direction(v.ingress)].join('\n') + '\n';
}
