/**
 * `weft lab demo`, the README's main job: a 3-node lab on the embedded store, the example
 * cluster of examples/xyz (namespaces x, y, z with pods a, b, c serving 80 and 81 on TCP and
 * UDP), the nodes with their subnets, the pods with their addresses, and the reachability
 * matrix proven with real traffic; then the lab is removed (unless --keep).
 */

import { fileURLToPath } from 'node:url';
import { parseLabUpOptions } from '../core/lab/lab-spec.js';
import { renderTruthTable } from '../core/lab/probe-table.js';
import { nodeRows, podRows, renderTable } from '../core/lab/views.js';
import { labDown, labUp, type LabDeps } from './lab.js';
import { LabClient, podRefs, sortPods } from './client.js';

export const EXAMPLES_DIR = fileURLToPath(new URL('../../../examples/xyz', import.meta.url));

export interface DemoOptions {
  name: string;
  keep: boolean;
  out: (text: string) => void;
}

export async function runLabDemo(o: DemoOptions, deps: LabDeps): Promise<void> {
  const spec = parseLabUpOptions({ name: o.name });
  const say = o.out;
  say(
    `weft lab demo: a ${spec.nodes}-node cluster network made of network namespaces, ${spec.backend} between nodes, pods wired by weft's CNI plugins\n\n`,
  );
  await labUp(spec, deps);
  let kept = false;
  try {
    const lab = LabClient.open(deps.root, spec.name, deps.exec);
    try {
      const objects = LabClient.readManifests([EXAMPLES_DIR], () => '');
      say(`\n$ weft apply -f examples/xyz\n`);
      for (const line of await lab.apply(objects)) say(`${line}\n`);
      await lab.waitForPods(podRefs(objects), 120_000);

      const now = Date.now();
      say(`\n$ weft get nodes\n`);
      const nodes = nodeRows(await lab.nodes(), now, { wide: false });
      say(renderTable(nodes.header, nodes.rows));
      const views = await lab.pods();
      say(`\n$ weft get pods -A -o wide\n`);
      const pods = podRows(
        views.map((v) => v.stored),
        now,
        { wide: true, allNamespaces: true },
      );
      say(renderTable(pods.header, pods.rows));

      const sorted = sortPods(views);
      for (const [port, protocol] of [
        [80, 'TCP'],
        [81, 'UDP'],
      ] as const) {
        say(`\n$ weft probe -A --port ${port} --protocol ${protocol}\n`);
        say(renderTruthTable(await lab.probeMatrix(sorted, port, protocol, 1000)));
      }
    } finally {
      await lab.close();
    }
    if (o.keep) {
      kept = true;
      const flag = spec.name === 'weft' ? '' : ` --lab ${spec.name}`;
      say(`\nThe lab is still up. Explore it:\n`);
      say(
        `  weft get pods -A -o wide${flag}\n  weft exec -n x a${flag} -- ip route\n  weft probe -A --port 81 --protocol UDP${flag}\n  weft lab status${spec.name === 'weft' ? '' : ` --name ${spec.name}`}\n`,
      );
      say(`and remove it with: weft lab down${spec.name === 'weft' ? '' : ` --name ${spec.name}`}\n`);
    }
  } finally {
    if (!kept) {
      await labDown(spec.name, deps);
      say(`\nlab ${spec.name} removed: no namespace, process or file of it is left.\n`);
    }
  }
}
