/**
 * What every BGP speaker of a bgp lab says about itself, read from birdc on its control socket
 * (a unix socket in the lab's directory: no need to enter the node's namespace): each node's BIRD
 * (the agent's, src/agent/backends/bgp.ts) and the router's (./router-bird.ts) when it runs one.
 * For `weft get bgp` and `weft lab status`.
 */

import { join } from 'node:path';
import { parseShowProtocolsAll, parseShowRoute } from '../core/bgp/birdc-output.js';
import type { BgpSpeakerStatus } from '../core/bgp/bgp-view.js';
import type { Exec } from '../ports/exec.js';
import { BirdControl, birdFiles } from '../adapters/bird.js';
import { LabPaths, readLabRecord, type LabRecord } from './lab-state.js';
import { labRouterSpeaksBgp } from './router-bird.js';

async function speakerStatus(exec: Exec, speaker: string, socket: string): Promise<BgpSpeakerStatus> {
  const control = new BirdControl(exec, socket);
  try {
    const [protocols, routes] = [await control.showProtocolsAll(), await control.showRoute()];
    return {
      speaker,
      sessions: parseShowProtocolsAll(protocols),
      learnt: parseShowRoute(routes).filter((r) => r.protocol !== 'weft_own'),
    };
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    const why = (e.stdout || e.stderr || e.message).trim().split('\n').pop() ?? e.message;
    return { speaker, sessions: [], learnt: [], error: why };
  }
}

/** Every speaker's status; [] for a lab whose backend is not bgp. */
export async function labBgpStatus(exec: Exec, paths: LabPaths, record: LabRecord): Promise<BgpSpeakerStatus[]> {
  if (record.spec.backend !== 'bgp') return [];
  const out: BgpSpeakerStatus[] = [];
  for (const n of record.nodes) out.push(await speakerStatus(exec, n.name, birdFiles(paths.runDir(n.name)).socket));
  if (labRouterSpeaksBgp(record.spec))
    out.push(await speakerStatus(exec, 'router', birdFiles(join(paths.dir, 'router')).socket));
  return out;
}

/** One line per speaker for `weft lab status`: sessions established of all, routes learnt. */
export async function labBgpSummary(name: string, deps: { root: string; exec: Exec }): Promise<string[]> {
  const paths = new LabPaths(deps.root, name);
  const record = readLabRecord(paths);
  if (!record) return [];
  return (await labBgpStatus(deps.exec, paths, record)).map((s) => {
    if (s.error) return `${s.speaker}: BIRD not answering (${s.error})`;
    const up = s.sessions.filter((x) => x.bgpState === 'Established');
    const down = s.sessions.filter((x) => x.bgpState !== 'Established' && x.bgpState !== 'Passive');
    return `${s.speaker}: ${up.length} sessions established${down.length ? `, not established: ${down.map((x) => `${x.neighborAddress ?? x.name} ${x.bgpState}`).join(', ')}` : ''}; ${s.learnt.length} routes learnt`;
  });
}
