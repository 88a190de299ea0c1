/**
 * Network namespaces made, and sockets created inside them, through weft's small native module
 * (native/netns, built by scripts/setup.sh): Node itself has no unshare(2) or setns(2).
 *
 * The module moves the calling thread into the namespace, creates and binds the sockets, and
 * moves back, all in one synchronous call; the returned descriptors are adopted by Node's own
 * net and dgram sockets. A socket stays in the namespace it was made in, so the lab's pod runner
 * serves every pod's ports from one process without a helper process per pod (which cost a
 * Node start, about 60 ms of CPU on a 2-core VM, for every pod).
 */

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface SocketSpec {
  protocol: 'TCP' | 'UDP';
  port: number;
}

interface NativeNetns {
  bindInNetns(path: string, specs: Array<[boolean, number]>): number[];
  addNetns(path: string): void;
}

const MODULE_PATH = fileURLToPath(new URL('../../../native/netns/build/Release/weft_netns.node', import.meta.url));

let loaded: NativeNetns | undefined;

function native(): NativeNetns {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)(MODULE_PATH) as NativeNetns;
  } catch (err) {
    throw new Error(
      `load weft's native netns module ${MODULE_PATH}: ${(err as Error).message} (build it with \`npm --prefix native/netns run build\`, which scripts/setup.sh does)`,
      { cause: err },
    );
  }
  return loaded;
}

/**
 * Binds one dual-stack socket per spec on [::]:port inside the namespace at nsPath and returns
 * their descriptors in spec order (TCP sockets bound, not yet listening). All or nothing: on
 * failure nothing stays open and the error names the port, the namespace and the reason.
 */
export function bindSocketsInNetns(nsPath: string, specs: readonly SocketSpec[]): number[] {
  return native().bindInNetns(
    nsPath,
    specs.map((s) => [s.protocol === 'TCP', s.port]),
  );
}

/**
 * Makes a network namespace pinned at nsPath (a file under /run/netns, whose directory `ip netns`
 * has already made a shared mount point) with lo up: `ip netns add` and `ip -n NAME link set lo
 * up` in one call and no process. All or nothing: on failure no file and no mount is left.
 * Why: the lab's kubelet makes a namespace per pod, and two `ip` processes per pod were a
 * measurable part of a pod's cost (see bench/lab.ts).
 */
export function createNetns(nsPath: string): void {
  native().addNetns(nsPath);
}
