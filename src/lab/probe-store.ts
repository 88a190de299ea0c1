/**
 * The lab keeps the last `weft probe` matrix of each port and protocol (one JSON file each under
 * the lab's probes/ directory, so it goes with `lab down`), with when it ran and the store
 * revision then, so `weft ui` can lay what real traffic measured over the matrix the policies
 * predict. A file is written whole and renamed into place: a reader never sees half a probe.
 */

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeptProbe, ProbeStamp } from '../core/lab/dashboard.js';
import type { MatrixProtocol } from '../core/lab/probe-table.js';
import type { LabPaths } from './lab-state.js';

const fileOf = (paths: LabPaths, port: number, protocol: MatrixProtocol) =>
  join(paths.probeDir, `${port}-${protocol}.json`);

export function saveProbe(paths: LabPaths, probe: KeptProbe): void {
  mkdirSync(paths.probeDir, { recursive: true });
  const file = fileOf(paths, probe.port, probe.protocol);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(probe)}\n`);
  renameSync(tmp, file);
}

/** The last probe of this port and protocol; undefined when none was kept. */
export function readProbe(paths: LabPaths, port: number, protocol: MatrixProtocol): KeptProbe | undefined {
  const file = fileOf(paths, port, protocol);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as KeptProbe;
  } catch (err) {
    throw new Error(`read the kept probe ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Which probes are kept and when each ran, from the files' names and modification times (cheap
 * enough for the dashboard's poller to read every few hundred milliseconds); [] when none.
 */
export function probeStamps(paths: LabPaths): ProbeStamp[] {
  if (!existsSync(paths.probeDir)) return [];
  return readdirSync(paths.probeDir).flatMap((name) => {
    const m = /^(\d+)-(TCP|UDP|SCTP)\.json$/.exec(name);
    if (!m) return [];
    return [
      { port: Number(m[1]), protocol: m[2] as MatrixProtocol, time: statSync(join(paths.probeDir, name)).mtimeMs },
    ];
  });
}
