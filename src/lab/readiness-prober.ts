/**
 * Runs one pod's readiness probes for the node's pod runner, as kubelet's prober workers do: the
 * schedule and the meaning of results are the core's (core/lab/readiness.ts); this only executes
 * probes and tells its owner when the pod's readiness changed (the owner writes the status then,
 * and only then, so probing never writes to the store on its own).
 *
 * - exec: the command's argv runs inside the pod's network namespace (the node's for a
 *   hostNetwork pod); exit 0 is success. The lab's pods share the host's file system, so a probe
 *   such as `test -e /tmp/ready` is something a test can flip.
 * - tcpSocket: a TCP connection to host (default: the pod IP) and port (a number, or the name of
 *   one of the container's ports), from the node's network namespace where the runner runs, as
 *   kubelet connects from its host. Success is an established connection, which is closed at once.
 * - httpGet: GET http://host:port/path (host defaults to the pod IP) with the probe's headers, from
 *   the node's namespace like tcpSocket; a status from 200 to 399 is success, as kubelet has it
 *   (pkg/probe/http). Only plain HTTP: HTTPS is refused at apply.
 * - A probe that has not answered within timeoutSeconds is a failure.
 *
 * Each pod has its own timer and every probe runs on its own (a child process or a socket), so a
 * slow probe of one pod never holds back another pod's: the runner serves all pods of its node
 * from one process.
 */

import { connect } from 'node:net';
import type { Container, IntOrString, Pod, Probe } from '../core/k8s/objects.js';
import { PodReadiness } from '../core/lab/readiness.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Exec } from '../ports/exec.js';
import { httpProbeStatus } from '../adapters/http-get.js';
import type { Logger } from '../ports/logger.js';

export interface PodProberOptions {
  /** namespace/name, for logs. */
  key: string;
  pod: Pod;
  /** Where TCP and HTTP probes dial; undefined for a pod with no network (they then fail, as kubelet's would with no pod IP). */
  podIP: string | undefined;
  /** The pod's network namespace path; undefined for a hostNetwork pod (the runner's own namespace). */
  netnsPath: string | undefined;
  exec: Exec;
  clock: Clock;
  log: Logger;
  /** When the pod's containers started (ms since the epoch): initialDelaySeconds counts from here. */
  startedAt: number;
  /** The readiness to start from (see core/lab/readiness.ts: a recovered pod keeps its own). */
  ready: boolean;
  /** Called when the pod's readiness changed. */
  onChange: (ready: boolean) => void;
}

/** The port a tcpSocket or httpGet probe names: its number, or the container's port of that name (checked at apply). */
function probePort(container: Container, port: IntOrString): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports.find((p) => p.name === port)?.containerPort;
}

/** Connects to host:port; true once the connection is established, false on refusal, error or timeout. */
function tcpConnects(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean) => {
      sock.removeAllListeners();
      sock.on('error', () => undefined);
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export class PodProber {
  private readonly readiness: PodReadiness;
  private readonly containers: Map<string, Container & { readinessProbe: Probe }>;
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly o: PodProberOptions) {
    this.containers = new Map(
      o.pod.spec.containers.flatMap((c) =>
        c.readinessProbe ? [[c.name, c as Container & { readinessProbe: Probe }] as const] : [],
      ),
    );
    this.readiness = new PodReadiness(
      [...this.containers].map(([container, c]) => ({ container, timing: c.readinessProbe })),
      o.startedAt,
      o.ready,
    );
  }

  /** The pod's readiness as the probes say now (true for a pod without readiness probes). */
  get ready(): boolean {
    return this.readiness.ready;
  }

  start(): void {
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Starts every due probe, then sleeps until the next is due (a finishing probe wakes it too). */
  private tick(): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = undefined;
    const now = this.o.clock.now();
    for (const name of this.readiness.due(now)) {
      this.readiness.begin(name, now);
      void this.probe(this.containers.get(name)!).then((ok) => {
        if (this.stopped) return;
        if (this.readiness.finish(name, ok)) {
          this.o.log.info('pod readiness changed', { pod: this.o.key, container: name, ready: this.readiness.ready });
          this.o.onChange(this.readiness.ready);
        }
        this.tick();
      });
    }
    const next = this.readiness.nextWakeAt();
    if (next !== undefined) this.timer = this.o.clock.setTimeout(() => this.tick(), Math.max(0, next - now));
  }

  /** Runs the container's probe once: true on success. */
  private async probe(c: Container & { readinessProbe: Probe }): Promise<boolean> {
    const p = c.readinessProbe;
    const timeoutMs = p.timeoutSeconds * 1000;
    try {
      if (p.exec) {
        const r = await this.o.exec.tryRun({
          argv: p.exec.command,
          ...(this.o.netnsPath === undefined ? {} : { netns: this.o.netnsPath }),
          timeoutMs,
          context: `readiness probe of ${this.o.key} container ${c.name}`,
        });
        return r.exitCode === 0;
      }
      if (p.tcpSocket) {
        const port = probePort(c, p.tcpSocket.port);
        const host = p.tcpSocket.host ?? this.o.podIP;
        if (port === undefined || host === undefined) return false;
        return await tcpConnects(host, port, timeoutMs);
      }
      if (p.httpGet) {
        const port = probePort(c, p.httpGet.port);
        const host = p.httpGet.host ?? this.o.podIP;
        if (port === undefined || host === undefined) return false;
        const status = await httpProbeStatus({
          host,
          port,
          path: p.httpGet.path,
          headers: p.httpGet.httpHeaders,
          timeoutMs,
        });
        return status !== undefined && status >= 200 && status < 400;
      }
      return false;
    } catch (err) {
      // A command that cannot start is a failed probe, as kubelet has it; said once per attempt.
      this.o.log.warn('readiness probe failed to run', {
        pod: this.o.key,
        container: c.name,
        error: (err as Error).message,
      });
      return false;
    }
  }
}
