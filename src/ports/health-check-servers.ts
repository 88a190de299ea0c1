/**
 * HealthCheckServers: the port to the HTTP servers a node runs on its Services'
 * healthCheckNodePorts (kube-proxy's service health server). The decision of what each port
 * answers is the core's (src/core/services/health-check.ts); this only listens and replies.
 */

export interface HealthReply {
  status: number;
  body: string;
}

export interface HealthCheckServers {
  /**
   * Listens on exactly `ports` (TCP, every address of the node): opens the new ones, closes the
   * ones not named. `reply` is asked at each request, so answers follow the caller's state
   * without reopening; undefined (a port no longer wanted) answers 404. Rejects naming every port
   * it could not open (e.g. in use); the others are served meanwhile, and a later call retries.
   */
  serve(ports: readonly number[], reply: (port: number) => HealthReply | undefined): Promise<void>;
  /** The ports listened on now (sorted; [] when none). */
  listening(): number[];
  /** Closes every server. */
  close(): Promise<void>;
}
