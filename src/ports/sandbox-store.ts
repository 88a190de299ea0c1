/**
 * SandboxStore: the lab pod runner's own record of the pod sandboxes it made (what a CRI
 * runtime keeps in its state directory): the network namespace, the CNI container ID and the pod
 * uid each was made for. It is written before anything is made for a pod, so a runner restarted
 * after kill -9 finds everything it started. Nothing but the runner (and the lab tools that exec
 * into pods) reads it; the cluster sees pods only through `Pod.status`.
 */

export interface SandboxRecord {
  namespace: string;
  name: string;
  /** The uid of the pod object the sandbox was made for. */
  uid: string;
  node: string;
  /** The pod's network namespace name ("" for hostNetwork pods). */
  netns: string;
  containerId: string;
  /** 'none' for a pod with no network (src/core/k8s/pod-network.ts): its namespace has only lo, no CNI ADD was run. */
  network?: 'none';
  /**
   * The programs running for the pod's containers (src/lab/program-runner.ts), rewritten at each
   * start: a restarted runner kills these (PID and start time from /proc, so a reused PID is
   * never signalled) before it starts them again. Absent when the pod runs none.
   */
  programs?: ProgramRecord[];
}

/** One running program of a pod: its container, PID (= its process group) and /proc start time. */
export interface ProgramRecord {
  container: string;
  pid: number;
  startTime: number;
}

export interface SandboxStore {
  /** Every sandbox record (of every node), by namespace and name; [] when none. */
  sandboxes(): Promise<SandboxRecord[]>;
  /** Writes the record of pod namespace/name, replacing any. */
  putSandbox(record: SandboxRecord): Promise<void>;
  /** Removes the record of pod namespace/name if it is for `uid`; nothing when there is none. */
  removeSandbox(namespace: string, name: string, uid: string): Promise<void>;
}
