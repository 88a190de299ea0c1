/**
 * `weft probe --to service/NS/NAME`: what N new connections from each source pod to a Service's
 * VIP found, per source: which endpoint pods answered how often, and how many connections failed
 * (and why). Its JSON form and the table people read. Pure: the lab client makes the connections.
 */

import { alignColumns } from './views.js';

/** One connection's outcome: the pod that answered (from its greeting), or why none did. */
export type ConnectionOutcome = { pod: string } | { error: string };

export interface ServiceProbeSource {
  from: string;
  outcomes: readonly ConnectionOutcome[];
}

export interface ServiceProbeResult {
  service: string;
  clusterIP: string;
  port: number;
  protocol: 'TCP' | 'UDP';
  /** The Service port's name, when it has one. */
  portName?: string;
  connections: number;
  results: Array<{
    from: string;
    /** Answering pod → connections it answered, pods in name order. */
    answers: Record<string, number>;
    failed: number;
    /** Why connections failed → how many (refused, timeout, ...); empty when none failed. */
    failures: Record<string, number>;
  }>;
}

function countBy(keys: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of [...keys].sort()) out[k] = (out[k] ?? 0) + 1;
  return out;
}

export function summarizeServiceProbe(
  head: Omit<ServiceProbeResult, 'results'>,
  sources: readonly ServiceProbeSource[],
): ServiceProbeResult {
  return {
    ...head,
    results: sources.map((s) => {
      const pods = s.outcomes.flatMap((o) => ('pod' in o ? [o.pod] : []));
      const errors = s.outcomes.flatMap((o) => ('error' in o ? [o.error] : []));
      return { from: s.from, answers: countBy(pods), failed: errors.length, failures: countBy(errors) };
    }),
  };
}

/** `{"service", "clusterIP", "port", "protocol", "results": [{"from", "answers", "failed", "failures"}]}`. */
export function serviceProbeJson(r: ServiceProbeResult): string {
  const ordered = {
    service: r.service,
    clusterIP: r.clusterIP,
    port: r.port,
    protocol: r.protocol,
    ...(r.portName === undefined ? {} : { portName: r.portName }),
    connections: r.connections,
    results: r.results.map((x) => ({ from: x.from, answers: x.answers, failed: x.failed, failures: x.failures })),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/** A row per source, a column per pod that answered anyone, then FAILED and why. */
export function renderServiceProbe(r: ServiceProbeResult): string {
  const pods = [...new Set(r.results.flatMap((x) => Object.keys(x.answers)))].sort();
  const header = ['FROM', ...pods, 'FAILED', ...(r.results.some((x) => x.failed > 0) ? ['WHY'] : [])];
  const rows = r.results.map((x) => [
    x.from,
    ...pods.map((p) => String(x.answers[p] ?? 0)),
    String(x.failed),
    ...(header.length > pods.length + 2
      ? [
          Object.entries(x.failures)
            .map(([why, n]) => `${n} ${why}`)
            .join(', '),
        ]
      : []),
  ]);
  const title =
    `${r.connections} new ${r.protocol} connection${r.connections === 1 ? '' : 's'} from each source to service ${r.service}` +
    ` (${r.clusterIP}:${r.port}/${r.protocol}${r.portName ? `, port "${r.portName}"` : ''}); columns are the pods that answered\n`;
  return title + alignColumns([header, ...rows]);
}
