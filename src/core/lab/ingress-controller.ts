/**
 * The lab's ingress controller, deployed as ingress-nginx's manifests deploy theirs: the namespace
 * ingress-weft, the IngressClass `weft` (controller weft.dev/ingress, annotated as the cluster's
 * default so an Ingress without a class gets it), the LoadBalancer Service ingress-weft/ingress-weft
 * (80 http, 443 https) and `replicas` pods labelled app.kubernetes.io/name=ingress-weft running
 * `weft ingress` (nginx as its child) over the lab's object store (with `--api kube`: over the API
 * server, as deploy/weft-ingress.yaml's ServiceAccount), spread over the nodes (replica
 * i on node i mod N), Ready once nginx answers /healthz.
 *
 * externalTrafficPolicy Local, as ingress-nginx recommends: the load balancer sends traffic only to
 * nodes with an ingress pod and the node does not SNAT it, so nginx sees the client's address and
 * X-Real-IP / X-Forwarded-For carry it to the backends.
 *
 * Only the first replica writes Ingress status (the lab's stand-in for ingress-nginx's leader
 * election: every replica renders the same configuration from the same cluster).
 */

import type { LabSpec } from './lab-spec.js';

export const INGRESS_NAMESPACE = 'ingress-weft';
export const INGRESS_SERVICE = 'ingress-weft';
export const INGRESS_CLASS = 'weft';
export const INGRESS_CONTROLLER = 'weft.dev/ingress';
export const INGRESS_APP_LABEL = { 'app.kubernetes.io/name': 'ingress-weft' } as const;
export const INGRESS_HEALTH_PORT = 10254;

/** The ingress pods' names, in replica order. */
export function ingressPodNames(replicas: number): string[] {
  return Array.from({ length: replicas }, (_, i) => `weft-ingress-${i + 1}`);
}

export function ingressControllerManifest(o: {
  spec: LabSpec;
  nodes: readonly string[];
  /** The argv that starts weft's CLI (node and the CLI's path). */
  weft: readonly string[];
  /** The lab store the pods read, or (`--api kube`) the kubeconfig they read the API server with. */
  cluster: { objectsFile: string } | { kubeconfig: string };
  /** Each pod's nginx files go in WORK_ROOT/<pod name>. */
  workRoot: string;
}): string {
  const replicas = o.spec.ingress?.replicas ?? 0;
  if (replicas === 0 || o.nodes.length === 0) return '';
  const docs: object[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: INGRESS_NAMESPACE } },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: {
        name: INGRESS_CLASS,
        annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' },
      },
      spec: { controller: INGRESS_CONTROLLER },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: INGRESS_SERVICE, namespace: INGRESS_NAMESPACE, labels: { ...INGRESS_APP_LABEL } },
      spec: {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        selector: INGRESS_APP_LABEL,
        ports: [
          { name: 'http', port: 80, protocol: 'TCP', targetPort: 'http' },
          { name: 'https', port: 443, protocol: 'TCP', targetPort: 'https' },
        ],
      },
    },
    ...ingressPodNames(replicas).map((name, i) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: INGRESS_NAMESPACE, labels: { ...INGRESS_APP_LABEL } },
      spec: {
        nodeName: o.nodes[i % o.nodes.length],
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'controller',
            // The image a cluster would run (deploy/Containerfile); the lab's kubelet runs the
            // host's weft, and the API server requires an image.
            image: 'localhost/weft:0.1.0',
            command: [
              ...o.weft,
              'ingress',
              ...('kubeconfig' in o.cluster
                ? ['--cluster', 'kube', '--kubeconfig', o.cluster.kubeconfig]
                : ['--objects-file', o.cluster.objectsFile]),
              '--work-dir',
              `${o.workRoot}/${name}`,
              '--publish-service',
              `${INGRESS_NAMESPACE}/${INGRESS_SERVICE}`,
              '--health-port',
              String(INGRESS_HEALTH_PORT),
              ...(i === 0 ? ['--write-status'] : []),
            ],
            ports: [
              { name: 'http', containerPort: 80, protocol: 'TCP' },
              { name: 'https', containerPort: 443, protocol: 'TCP' },
              { name: 'health', containerPort: INGRESS_HEALTH_PORT, protocol: 'TCP' },
            ],
            readinessProbe: { httpGet: { path: '/healthz', port: 'health' }, periodSeconds: 1 },
          },
        ],
      },
    })),
  ];
  return docs.map((d) => JSON.stringify(d)).join('\n---\n');
}
