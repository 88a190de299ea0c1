/**
 * The thread that answers on the lab's pod ports (see ./pod-ports.ts). A pod's sockets are
 * served here, not on the pod runner's main thread, because the runner's store calls are
 * synchronous (better-sqlite3) and wait while another process holds the store's write lock: on
 * the main thread such a wait (seconds on a loaded machine) froze every pod's answers with it, and
 * a client saw a connection accepted by the kernel but never greeted. A pod's server is its own
 * process in a real cluster; this thread is the nearest the lab's one-process kubelet comes.
 *
 * Messages: { op: 'serve', id, pod, ports, fds? } (fds: sockets already bound in the pod's
 * namespace, now owned here; without them the ports are bound in this process's own namespace,
 * a hostNetwork pod's) and { op: 'close', id }; each is answered { id, error? } once done.
 */

import { parentPort } from 'node:worker_threads';
import { adopt, bindHere, closeAll, serveBound, type Bound, type PodPort } from './pod-ports.js';
import { closeSync } from 'node:fs';

export type WorkerRequest =
  | { op: 'serve'; id: number; pod: string; ports: PodPort[]; fds?: number[] }
  | { op: 'close'; id: number };

export interface WorkerReply {
  id: number;
  error?: string;
}

const served = new Map<number, Bound[]>();

async function serve(req: Extract<WorkerRequest, { op: 'serve' }>): Promise<void> {
  let handles: Bound[];
  if (req.fds === undefined) handles = await bindHere(req.ports);
  else {
    handles = [];
    try {
      for (const [i, p] of req.ports.entries()) handles.push(await adopt(p, req.fds[i]!));
    } catch (err) {
      await closeAll(handles);
      // Descriptors after the one that failed were never handed to Node: only ours to close.
      for (const fd of req.fds.slice(handles.length + 1)) closeSync(fd);
      throw err;
    }
  }
  serveBound(req.pod, handles);
  served.set(req.id, handles);
}

const port = parentPort;
if (port) {
  port.on('message', (req: WorkerRequest) => {
    const done =
      req.op === 'serve'
        ? serve(req)
        : closeAll(served.get(req.id) ?? []).then(() => {
            served.delete(req.id);
          });
    done.then(
      () => port.postMessage({ id: req.id } satisfies WorkerReply),
      (err: unknown) => port.postMessage({ id: req.id, error: (err as Error).message } satisfies WorkerReply),
    );
  });
}
