// `weft ingress` (the ingress controller a lab pod runs) and `weft echo-http` (the lab's HTTP
// backend): flag parsing and wiring only; see src/ingress/ and src/core/ingress/.
import type { Command } from 'commander';
import { JsonLogger } from '../adapters/json-logger.js';
import { systemClock } from '../adapters/clock.js';
import { NodeExec, spawnChild } from '../adapters/exec.js';
import { SqliteObjectStore } from '../adapters/object-store-sqlite.js';
import { openCluster, parseClusterSpec } from '../agent/open-cluster.js';
import { HttpNginxBalancer } from '../adapters/nginx-balancer-http.js';
import { IngressController, INGRESS_KINDS, storeStatusWriter } from '../ingress/controller.js';
import { kubeIngressStatusWriter } from '../adapters/ingress-status-kube.js';
import { lazyKubeClient } from '../adapters/kube-api.js';
import { startHttpEcho } from '../lab/http-echo.js';
import { INGRESS_CONTROLLER } from '../core/lab/ingress-controller.js';

interface IngressCliOptions {
  cluster?: string;
  kubeconfig?: string;
  objectsFile?: string;
  workDir?: string;
  controller: string;
  publishService?: string;
  httpPort: string;
  httpsPort: string;
  healthPort: string;
  balancerPort: string;
  nginxModules: string;
  workers: string;
  writeStatus: boolean;
}

function port(flag: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new Error(`${flag} "${text}": must be a port from 1 to 65535`);
  return n;
}

export function registerIngress(program: Command): void {
  program
    .command('ingress')
    .description(
      "the ingress controller: renders nginx.conf from the Ingresses of its IngressClass, checks it with nginx -t and reloads nginx (its child) when it changed; endpoint changes go to nginx's Lua balancer without a reload",
    )
    .option('--cluster <source>', 'the cluster to follow: sqlite:PATH, or kube (the Kubernetes API)')
    .option(
      '--kubeconfig <path>',
      'with --cluster kube: the kubeconfig to read the API with (default: in-cluster config)',
    )
    .option('--objects-file <path>', "a weft lab's object store (the same as --cluster sqlite:PATH)")
    .option('--work-dir <dir>', "nginx's prefix: configuration, pid file, temp directories and certificates")
    .option('--controller <name>', 'serve the IngressClasses with this spec.controller', INGRESS_CONTROLLER)
    .option('--publish-service <ns/name>', 'the LoadBalancer Service whose addresses go in status.loadBalancer')
    .option('--http-port <port>', 'HTTP port', '80')
    .option('--https-port <port>', 'HTTPS port', '443')
    .option('--health-port <port>', 'GET /healthz answers 200 once nginx runs', '10254')
    .option(
      '--balancer-port <port>',
      "the port on the pod's 127.0.0.1 where nginx takes the endpoint lists from the controller",
      '10246',
    )
    .option(
      '--nginx-modules <dir>',
      "nginx's dynamic modules (the Lua module: libnginx-mod-http-lua)",
      '/usr/lib/nginx/modules',
    )
    .option('--workers <n>', "nginx's worker_processes", '1')
    .option('--write-status', 'write Ingress status (one replica does)', false)
    .action(async (opts: IngressCliOptions) => {
      const spec = opts.cluster ?? (opts.objectsFile ? `sqlite:${opts.objectsFile}` : undefined);
      if (!spec) throw new Error('--cluster sqlite:PATH or kube (or --objects-file PATH) is required');
      const parsed = parseClusterSpec(spec);
      if (opts.kubeconfig !== undefined && parsed.kind !== 'kube')
        throw new Error(`--kubeconfig: only with --cluster kube (the cluster here is "${spec}")`);
      if (!opts.workDir) throw new Error('--work-dir is required');
      if (opts.publishService !== undefined && !/^[a-z0-9-]+\/[a-z0-9-]+$/.test(opts.publishService))
        throw new Error(`--publish-service "${opts.publishService}": expected NAMESPACE/NAME`);
      const workers = Number(opts.workers);
      if (!/^\d+$/.test(opts.workers) || workers < 1 || workers > 64)
        throw new Error(`--workers "${opts.workers}": must be a whole number from 1 to 64`);
      const ports = {
        http: port('--http-port', opts.httpPort),
        https: port('--https-port', opts.httpsPort),
        health: port('--health-port', opts.healthPort),
        balancer: port('--balancer-port', opts.balancerPort),
      };
      const log = new JsonLogger((l) => process.stderr.write(l), { component: 'ingress' });
      const clock = systemClock;
      // --cluster kube: a kubeconfig that cannot be read is reported by the cache and tried again.
      const kube = lazyKubeClient(opts.kubeconfig, process.env, { userAgent: 'weft-ingress' });
      const cluster = openCluster(spec, INGRESS_KINDS, { clock, log, kube });
      const store =
        opts.writeStatus && parsed.kind === 'sqlite' ? new SqliteObjectStore(parsed.path, clock) : undefined;
      const status = !opts.writeStatus ? undefined : store ? storeStatusWriter(store) : kubeIngressStatusWriter(kube);
      await cluster.cache.start();
      const controller = new IngressController({
        cache: cluster.cache,
        ...(status ? { status } : {}),
        controller: opts.controller,
        ...(opts.publishService ? { publishService: opts.publishService } : {}),
        workDir: opts.workDir,
        modulesDir: opts.nginxModules,
        ports,
        balancer: new HttpNginxBalancer(ports.balancer),
        workers,
        exec: new NodeExec(),
        spawn: spawnChild,
        clock,
        log,
        onNginxExit: (err) => {
          log.error('nginx exited; the controller exits too (the pod restarts it)', { error: err.message });
          process.exit(1);
        },
      });
      await controller.start();
      log.info('ingress controller running', { workDir: opts.workDir, controller: opts.controller });
      const shutdown = async () => {
        await controller.stop();
        await cluster.close();
        await store?.close();
        process.exit(0);
      };
      process.on('SIGTERM', () => void shutdown());
      process.on('SIGINT', () => void shutdown());
    });

  program
    .command('echo-http')
    .description("an HTTP server that answers every request with what it received, as JSON (the lab's HTTP backend)")
    .option('--listen <host:port>', 'address to serve on', '0.0.0.0:8080')
    .option('--name <name>', 'the name it answers with (default: $HOSTNAME, the pod name in a lab pod)')
    .action(async (opts: { listen: string; name?: string }) => {
      const m = /^([^:]+):(\d+)$/.exec(opts.listen);
      if (!m) throw new Error(`--listen "${opts.listen}": expected HOST:PORT`);
      await startHttpEcho({
        host: m[1]!,
        port: port('--listen port', m[2]!),
        pod: opts.name ?? process.env.HOSTNAME ?? '',
      });
    });
}
