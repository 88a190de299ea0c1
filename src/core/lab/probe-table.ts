/**
 * The reachability matrix of `weft probe` (real traffic) and, later, `weft reach` (computed from
 * the policies): its JSON form, which both commands print identically, and the truth table people
 * read, with sources as rows and destinations as columns, `.` for connected and `X` for not, as
 * the Kubernetes NetworkPolicy e2e tests print theirs.
 */

export type MatrixProtocol = 'TCP' | 'UDP' | 'SCTP';

export interface MatrixResult {
  from: string;
  to: string;
  connected: boolean;
}

export interface ProbeMatrix {
  port: number;
  protocol: MatrixProtocol;
  /** Pods as "namespace/name", in the order of rows and columns. */
  pods: string[];
  /** One per ordered pair (a pod to itself included), row-major in the order of `pods`. */
  results: MatrixResult[];
}

export function matrixFrom(
  pods: readonly string[],
  port: number,
  protocol: MatrixProtocol,
  connected: (from: string, to: string) => boolean,
): ProbeMatrix {
  const results: MatrixResult[] = [];
  for (const from of pods) for (const to of pods) results.push({ from, to, connected: connected(from, to) });
  return { port, protocol, pods: [...pods], results };
}

/** What a cell means: `weft probe` measured a connection, `weft reach` computed a verdict. */
export type MatrixValue = 'connected' | 'allowed';

/**
 * Exactly `{"port", "protocol", "pods", "results": [{"from", "to", "connected"}]}`, keys in that
 * order; `weft reach` prints the same with "allowed" in place of "connected".
 */
export function probeJson(m: ProbeMatrix, value: MatrixValue = 'connected'): string {
  const ordered = {
    port: m.port,
    protocol: m.protocol,
    pods: m.pods,
    results: m.results.map((r) => ({ from: r.from, to: r.to, [value]: r.connected })),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/**
 * The truth table. Each destination column is as wide as its name, so the cell sits under the
 * name's first character; the last line counts the connected pairs.
 */
export function renderTruthTable(m: ProbeMatrix, value: MatrixValue = 'connected'): string {
  const connected = new Map(m.results.map((r) => [`${r.from}\u0000${r.to}`, r.connected]));
  const rowHead = Math.max(4, ...m.pods.map((p) => p.length));
  const what = value === 'connected' ? 'reachability (real traffic)' : 'policy verdicts (computed)';
  const lines = [
    `${what} on ${m.port}/${m.protocol}: rows are sources, columns destinations; . ${value}, X not ${value}`,
  ];
  lines.push(`${'from'.padEnd(rowHead)}  ${m.pods.join(' ')}`.trimEnd());
  for (const from of m.pods) {
    const cells = m.pods.map((to) => (connected.get(`${from}\u0000${to}`) ? '.' : 'X').padEnd(to.length));
    lines.push(`${from.padEnd(rowHead)}  ${cells.join(' ')}`.trimEnd());
  }
  const ok = m.results.filter((r) => r.connected).length;
  lines.push(`${ok}/${m.results.length} ${value}`);
  return `${lines.join('\n')}\n`;
}

/** The pairs where two matrices of the same pods, port and protocol differ; [] when they agree. */
export function compareMatrices(expected: ProbeMatrix, actual: ProbeMatrix): string[] {
  if (expected.port !== actual.port || expected.protocol !== actual.protocol) {
    throw new Error(`cannot compare ${expected.port}/${expected.protocol} with ${actual.port}/${actual.protocol}`);
  }
  if (expected.pods.join(',') !== actual.pods.join(','))
    throw new Error(
      `cannot compare matrices of different pods: [${expected.pods.join(' ')}] vs [${actual.pods.join(' ')}]`,
    );
  const got = new Map(actual.results.map((r) => [`${r.from}\u0000${r.to}`, r.connected]));
  const word = (c: boolean | undefined) => (c === undefined ? 'no result' : c ? 'connected' : 'not connected');
  return expected.results
    .filter((r) => got.get(`${r.from}\u0000${r.to}`) !== r.connected)
    .map((r) => `${r.from} -> ${r.to}: expected ${word(r.connected)}, got ${word(got.get(`${r.from}\u0000${r.to}`))}`);
}
