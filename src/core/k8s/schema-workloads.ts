/**
 * Zod schemas for Namespace, Pod, Service (v1) and EndpointSlice (discovery.k8s.io/v1), with the
 * API server's checks that matter to a pod network (k8s.io/kubernetes pkg/apis/core/validation
 * and pkg/apis/discovery/validation): names, ports, protocols, duplicates, addresses.
 *
 * Deliberate differences from the API server, each because weft's lab turns these objects into
 * kernel state: Pod names must be DNS labels (the API allows subdomains) since a pod's name is its
 * hostname and part of its network namespace name; two ports with the same containerPort and
 * protocol in one pod are an error (the API only warns), because both would bind the same socket.
 *
 * Every level is decoded strictly (fieldsOf); which fields beyond the modelled ones are kept as
 * written and which are refused, with the reasons, is in schema-fields.ts.
 */

import { podNetworkProblems } from './pod-network.js';
import { z } from 'zod';
import { cidrContains, parseCidr, tryParseCidr, tryParseIp } from '../net/ip.js';
import type {
  Container,
  Probe,
  Endpoint,
  EndpointPort,
  EndpointSlice,
  IntOrString,
  Namespace,
  Pod,
  Service,
  ServicePort,
} from './objects.js';
import { DEFAULT_AFFINITY_TIMEOUT_SECONDS, DNS_POLICIES, MAX_AFFINITY_TIMEOUT_SECONDS } from './objects.js';
import { checkDns1035Label, checkDns1123Label, checkDns1123Subdomain } from './names.js';
import {
  addReasons,
  clusterMeta,
  enumOf,
  fieldsOf,
  INTEGER,
  keptOf,
  LABELS,
  namespacedMeta,
  PORT_NAME,
  PORT_NUMBER,
  PORT_OR_NAME,
  PROTOCOL,
} from './schema-common.js';
import * as F from './schema-fields.js';

const NAMESPACE_SPEC = fieldsOf({}, F.NAMESPACE_SPEC).transform((s) => keptOf(s, F.NAMESPACE_SPEC));

export const NAMESPACE: z.ZodType<Namespace, z.ZodTypeDef, unknown> = fieldsOf(
  {
    apiVersion: z.literal('v1'),
    kind: z.literal('Namespace'),
    metadata: clusterMeta(checkDns1123Label),
    spec: NAMESPACE_SPEC.nullish(),
  },
  F.NAMESPACE_OBJECT,
).transform(({ apiVersion, kind, metadata, spec }) => {
  const out: Namespace = { apiVersion, kind, metadata };
  if (spec && Object.keys(spec).length > 0) out.spec = spec;
  return out;
});

const CONTAINER_PORT = fieldsOf(
  {
    containerPort: PORT_NUMBER,
    protocol: PROTOCOL,
    name: PORT_NAME.nullish(),
    hostPort: PORT_NUMBER.nullish(),
  },
  F.CONTAINER_PORT,
);

/** A probe's seconds or threshold: 0 and absent mean the default (SetDefaults_Probe); negative is refused. */
const PROBE_NUMBER = INTEGER.superRefine((n, ctx) => {
  if (n < 0) addReasons(ctx, [], ['must be greater than or equal to 0'], n);
}).nullish();

/** A probe's HTTP GET (validateHTTPGetAction): scheme HTTP only, headers with valid names. */
const HTTP_GET = fieldsOf(
  {
    path: z.string().nullish(),
    port: PORT_OR_NAME,
    host: z.string().nullish(),
    httpHeaders: z
      .array(fieldsOf({ name: z.string({ required_error: 'is required' }), value: z.string().nullish() }))
      .nullish(),
  },
  F.HTTP_GET,
).superRefine((h, ctx) => {
  (h.httpHeaders ?? []).forEach((hd, i) => {
    // An HTTP field name is a token (RFC 9110 §5.1), which is what the API server checks too.
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(hd.name))
      addReasons(ctx, ['httpHeaders', i, 'name'], ['must be a valid HTTP header name'], hd.name);
  });
});

/** core/v1 Probe for readiness (validateReadinessProbe, validateProbe, validateHandler). */
const READINESS_PROBE = fieldsOf(
  {
    exec: fieldsOf({ command: z.array(z.string()).nullish() }).nullish(),
    tcpSocket: fieldsOf({ port: PORT_OR_NAME, host: z.string().nullish() }).nullish(),
    httpGet: HTTP_GET.nullish(),
    initialDelaySeconds: PROBE_NUMBER,
    timeoutSeconds: PROBE_NUMBER,
    periodSeconds: PROBE_NUMBER,
    successThreshold: PROBE_NUMBER,
    failureThreshold: PROBE_NUMBER,
  },
  F.PROBE,
)
  .superRefine((p, ctx) => {
    const handlers = (['exec', 'tcpSocket', 'httpGet'] as const).filter((h) => p[h] != null);
    if (handlers.length === 0 && p.grpc == null) addReasons(ctx, [], ['Required value: must specify a handler type']);
    for (const h of handlers.slice(1)) addReasons(ctx, [h], ['Forbidden: may not specify more than 1 handler type']);
    if (p.exec && (p.exec.command ?? []).length === 0) addReasons(ctx, ['exec', 'command'], ['Required value']);
    const host = p.tcpSocket?.host;
    if (host && !tryParseIp(host))
      addReasons(
        ctx,
        ['tcpSocket', 'host'],
        [`${F.NOT_YET} (only an IP address: host names come with the DNS issue)`],
        host,
      );
    const httpHost = p.httpGet?.host;
    if (httpHost && !tryParseIp(httpHost))
      addReasons(
        ctx,
        ['httpGet', 'host'],
        [`${F.NOT_YET} (only an IP address: host names come with the DNS issue)`],
        httpHost,
      );
  })
  .transform((p): Probe => {
    const out: Probe = {
      initialDelaySeconds: p.initialDelaySeconds ?? 0,
      timeoutSeconds: p.timeoutSeconds || 1,
      periodSeconds: p.periodSeconds || 10,
      successThreshold: p.successThreshold || 1,
      failureThreshold: p.failureThreshold || 3,
    };
    if (p.exec) out.exec = { command: p.exec.command ?? [] };
    if (p.tcpSocket)
      out.tcpSocket = { port: p.tcpSocket.port, ...(p.tcpSocket.host ? { host: p.tcpSocket.host } : {}) };
    if (p.httpGet)
      out.httpGet = {
        path: p.httpGet.path || '/',
        port: p.httpGet.port,
        ...(p.httpGet.host ? { host: p.httpGet.host } : {}),
        httpHeaders: (p.httpGet.httpHeaders ?? []).map((h) => ({ name: h.name, value: h.value ?? '' })),
        ...keptOf(p.httpGet, F.HTTP_GET),
      };
    return out;
  });

/** A probe's port given by name must be one the container declares (kubelet's findPortByName). */
function probePortProblems(port: IntOrString | undefined, ports: ReadonlyArray<{ name?: string | null }>): string[] {
  if (typeof port !== 'string' || ports.some((p) => p.name === port)) return [];
  return ["must name one of the container's ports (spec.containers[].ports[].name)"];
}

/** An environment variable name (validateEnvVarName: a C identifier-like name, as kubelet passes it). */
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

const ENV_VAR = fieldsOf({ name: z.string({ required_error: 'is required' }), value: z.string().nullish() }, F.ENV_VAR);

const CONTAINER: z.ZodType<Container, z.ZodTypeDef, unknown> = fieldsOf(
  {
    name: z.string({ required_error: 'is required' }),
    image: z.string().nullish(),
    command: z.array(z.string()).nullish(),
    args: z.array(z.string()).nullish(),
    workingDir: z.string().nullish(),
    env: z.array(ENV_VAR).nullish(),
    ports: z.array(CONTAINER_PORT).nullish(),
    readinessProbe: READINESS_PROBE.nullish(),
  },
  F.CONTAINER,
)
  .superRefine((c, ctx) => {
    const probePort = c.readinessProbe?.tcpSocket?.port;
    addReasons(ctx, ['readinessProbe', 'tcpSocket', 'port'], probePortProblems(probePort, c.ports ?? []), probePort);
    const httpPort = c.readinessProbe?.httpGet?.port;
    addReasons(ctx, ['readinessProbe', 'httpGet', 'port'], probePortProblems(httpPort, c.ports ?? []), httpPort);
    // args without command would run the image's entrypoint, which the lab does not have.
    if (c.args != null && c.args.length > 0 && (c.command ?? []).length === 0)
      addReasons(ctx, ['args'], [`${F.NOT_YET} (args need a command: the lab runs no image entrypoint)`]);
    if (c.workingDir != null && !c.workingDir.startsWith('/'))
      addReasons(ctx, ['workingDir'], ['must be an absolute path'], c.workingDir);
    const envNames = new Set<string>();
    (c.env ?? []).forEach((e, i) => {
      if (!ENV_NAME.test(e.name))
        addReasons(ctx, ['env', i, 'name'], ['must be a valid environment variable name'], e.name);
      if (envNames.has(e.name)) addReasons(ctx, ['env', i, 'name'], ['duplicate environment variable'], e.name);
      envNames.add(e.name);
    });
    addReasons(ctx, ['name'], c.name === '' ? ['is required'] : checkDns1123Label(c.name), c.name || undefined);
    // Port names are unique within a container (validateContainerPorts).
    const names = new Set<string>();
    (c.ports ?? []).forEach((p, i) => {
      if (p.name == null) return;
      if (names.has(p.name)) addReasons(ctx, ['ports', i, 'name'], ['duplicate port name'], p.name);
      names.add(p.name);
    });
  })
  .transform((c) => {
    const out: Container = {
      name: c.name,
      ports: (c.ports ?? []).map((p) => ({
        ...(p.name == null
          ? { containerPort: p.containerPort, protocol: p.protocol }
          : { containerPort: p.containerPort, protocol: p.protocol, name: p.name }),
        ...(p.hostPort == null ? {} : { hostPort: p.hostPort }),
        ...keptOf(p, F.CONTAINER_PORT),
      })),
    };
    if (c.image != null) out.image = c.image;
    if (c.command != null && c.command.length > 0) out.command = c.command;
    if (c.args != null && c.args.length > 0) out.args = c.args;
    if (c.workingDir != null) out.workingDir = c.workingDir;
    if (c.env != null && c.env.length > 0) out.env = c.env.map((e) => ({ name: e.name, value: e.value ?? '' }));
    if (c.readinessProbe) out.readinessProbe = c.readinessProbe;
    return { ...out, ...keptOf(c, F.CONTAINER) };
  });

/** core/v1 PodDNSConfig, with validatePodDNSConfig's limits (kubelet's resolv.conf limits). */
const MAX_DNS_NAMESERVERS = 3;
const MAX_DNS_SEARCHES = 32;
const MAX_DNS_SEARCH_CHARS = 2048;
const POD_DNS_CONFIG = fieldsOf({
  nameservers: z.array(z.string()).nullish(),
  searches: z.array(z.string()).nullish(),
  options: z.array(fieldsOf({ name: z.string().nullish(), value: z.string().nullish() })).nullish(),
}).superRefine((c, ctx) => {
  const ns = c.nameservers ?? [];
  if (ns.length > MAX_DNS_NAMESERVERS)
    addReasons(ctx, ['nameservers'], [`must not have more than ${MAX_DNS_NAMESERVERS} nameservers`]);
  ns.forEach((n, i) => {
    if (!tryParseIp(n)) addReasons(ctx, ['nameservers', i], ['must be a valid IP address'], n);
  });
  const searches = c.searches ?? [];
  if (searches.length > MAX_DNS_SEARCHES)
    addReasons(ctx, ['searches'], [`must not have more than ${MAX_DNS_SEARCHES} search paths`]);
  if (searches.join(' ').length > MAX_DNS_SEARCH_CHARS)
    addReasons(
      ctx,
      ['searches'],
      [`must not have more than ${MAX_DNS_SEARCH_CHARS} characters (including spaces) in the search list`],
    );
  // A search domain may end in a dot (fully qualified); the rest is a DNS-1123 subdomain.
  searches.forEach((d, i) => addReasons(ctx, ['searches', i], checkDns1123Subdomain(d.replace(/\.$/, '')), d));
  (c.options ?? []).forEach((o, i) => {
    if (!o.name) addReasons(ctx, ['options', i, 'name'], ['must not be empty']);
  });
});

const POD_SPEC = fieldsOf(
  {
    dnsPolicy: enumOf(DNS_POLICIES).nullish(),
    dnsConfig: POD_DNS_CONFIG.nullish(),
    nodeName: z.string().nullish(),
    hostNetwork: z.boolean().nullish(),
    containers: z.array(CONTAINER, { required_error: 'is required' }),
    restartPolicy: enumOf(['Always', 'OnFailure', 'Never']).nullish(),
    terminationGracePeriodSeconds: INTEGER.nullish(),
    hostname: z.string().nullish(),
    subdomain: z.string().nullish(),
  },
  F.POD_SPEC,
)
  .superRefine((s, ctx) => {
    const grace = s.terminationGracePeriodSeconds;
    if (grace != null && grace < 0)
      addReasons(ctx, ['terminationGracePeriodSeconds'], ['must be greater than or equal to 0'], grace);
    if (s.nodeName) addReasons(ctx, ['nodeName'], checkDns1123Subdomain(s.nodeName), s.nodeName);
    // ValidatePodSpec: both are DNS-1123 labels when set.
    if (s.hostname) addReasons(ctx, ['hostname'], checkDns1123Label(s.hostname), s.hostname);
    if (s.subdomain) addReasons(ctx, ['subdomain'], checkDns1123Label(s.subdomain), s.subdomain);
    // validatePodDNSConfig: with dnsPolicy None the whole resolv.conf comes from dnsConfig.
    if (s.dnsPolicy === 'None') {
      if (!s.dnsConfig) addReasons(ctx, ['dnsConfig'], ['must provide `dnsConfig` when `dnsPolicy` is None']);
      else if ((s.dnsConfig.nameservers ?? []).length === 0)
        addReasons(
          ctx,
          ['dnsConfig', 'nameservers'],
          ['must provide at least one DNS nameserver when `dnsPolicy` is None'],
        );
    }
    if (s.containers.length === 0) addReasons(ctx, ['containers'], ['must have at least one container']);
    const containerNames = new Set<string>();
    const ports = new Set<string>();
    s.containers.forEach((c, ci) => {
      if (containerNames.has(c.name)) addReasons(ctx, ['containers', ci, 'name'], ['duplicate container name'], c.name);
      containerNames.add(c.name);
      c.ports.forEach((p, pi) => {
        // On a hostNetwork pod the pod serves on the node itself: the API server requires hostPort = containerPort.
        if (p.hostPort !== undefined && p.hostPort !== null && s.hostNetwork === true && p.hostPort !== p.containerPort)
          addReasons(
            ctx,
            ['containers', ci, 'ports', pi, 'hostPort'],
            ['must match `containerPort` when `hostNetwork` is true'],
            p.hostPort,
          );
        const key = `${p.containerPort}/${p.protocol}`;
        if (ports.has(key))
          addReasons(ctx, ['containers', ci, 'ports', pi, 'containerPort'], [`duplicate port ${key}`]);
        ports.add(key);
      });
    });
  })
  .transform((s) => {
    const out: Pod['spec'] = { hostNetwork: s.hostNetwork ?? false, containers: s.containers };
    if (s.restartPolicy != null) out.restartPolicy = s.restartPolicy;
    if (s.nodeName) out.nodeName = s.nodeName;
    if (s.terminationGracePeriodSeconds != null) out.terminationGracePeriodSeconds = s.terminationGracePeriodSeconds;
    if (s.hostname) out.hostname = s.hostname;
    if (s.subdomain) out.subdomain = s.subdomain;
    if (s.dnsPolicy != null) out.dnsPolicy = s.dnsPolicy;
    if (s.dnsConfig != null) {
      const c = s.dnsConfig;
      out.dnsConfig = {
        ...(c.nameservers == null ? {} : { nameservers: c.nameservers }),
        ...(c.searches == null ? {} : { searches: c.searches }),
        ...(c.options == null
          ? {}
          : {
              options: c.options.map((o) => ({ name: o.name ?? '', ...(o.value == null ? {} : { value: o.value }) })),
            }),
      };
    }
    return { ...out, ...keptOf(s, F.POD_SPEC) };
  });

export const POD: z.ZodType<Pod, z.ZodTypeDef, unknown> = fieldsOf(
  {
    apiVersion: z.literal('v1'),
    kind: z.literal('Pod'),
    metadata: namespacedMeta(checkDns1123Label),
    spec: POD_SPEC,
  },
  F.POD_OBJECT,
)
  .superRefine((p, ctx) => {
    for (const { path, reason } of podNetworkProblems(p.metadata.annotations, p.spec.hostNetwork))
      addReasons(ctx, path, [reason]);
  })
  .transform(({ apiVersion, kind, metadata, spec }) => ({ apiVersion, kind, metadata, spec }));

const SERVICE_PORT = fieldsOf(
  {
    name: z.string().nullish(),
    protocol: PROTOCOL,
    port: PORT_NUMBER,
    // 0 and absent both mean "same as port" (SetDefaults_Service).
    targetPort: z.union([z.literal(0), PORT_OR_NAME]).nullish(),
    nodePort: PORT_NUMBER.nullish(),
  },
  F.SERVICE_PORT,
);

const SERVICE_SPEC = fieldsOf(
  {
    selector: LABELS.nullish(),
    ports: z.array(SERVICE_PORT).nullish(),
    type: enumOf(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']).nullish(),
    clusterIP: z.string().nullish(),
    sessionAffinity: enumOf(['None', 'ClientIP']).nullish(),
    sessionAffinityConfig: fieldsOf(
      {
        clientIP: fieldsOf(
          {
            timeoutSeconds: z
              .number({ invalid_type_error: 'must be a whole number' })
              .int('must be a whole number')
              .nullish(),
          },
          F.SESSION_AFFINITY_CONFIG,
        ).nullish(),
      },
      F.SESSION_AFFINITY_CONFIG,
    ).nullish(),
    externalTrafficPolicy: enumOf(['Cluster', 'Local']).nullish(),
    internalTrafficPolicy: enumOf(['Cluster', 'Local']).nullish(),
    externalName: z.string().nullish(),
    externalIPs: z.array(z.string()).nullish(),
    loadBalancerSourceRanges: z.array(z.string()).nullish(),
    // 0 and absent both mean "allocate one" (the API server's registry does).
    healthCheckNodePort: z.union([z.literal(0), PORT_NUMBER]).nullish(),
    publishNotReadyAddresses: z.boolean().nullish(),
  },
  F.SERVICE_SPEC,
)
  .superRefine((s, ctx) => {
    const external = s.type === 'NodePort' || s.type === 'LoadBalancer';
    // The API server's ExternallyAccessible: a ClusterIP Service with external IPs is reached from outside too.
    const externallyAccessible =
      external || ((s.type ?? 'ClusterIP') === 'ClusterIP' && (s.externalIPs ?? []).length > 0);
    if (s.type === 'ExternalName') {
      if (!s.externalName) addReasons(ctx, ['externalName'], ['Required value']);
      else addReasons(ctx, ['externalName'], checkDns1123Subdomain(s.externalName), s.externalName);
      if (s.clusterIP) addReasons(ctx, ['clusterIP'], ['may not be set for ExternalName services'], s.clusterIP);
    } else if (s.externalName) {
      addReasons(ctx, ['externalName'], ["may only be set when `type` is 'ExternalName'"], s.externalName);
    }
    if (s.externalTrafficPolicy && !externallyAccessible)
      addReasons(
        ctx,
        ['externalTrafficPolicy'],
        ['may only be set for externally-accessible services'],
        s.externalTrafficPolicy,
      );
    checkExternalFields(s, ctx);
    if (s.internalTrafficPolicy && s.type === 'ExternalName')
      addReasons(ctx, ['internalTrafficPolicy'], ['may not be set for ExternalName services'], s.internalTrafficPolicy);
    const timeout = s.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    if (s.sessionAffinityConfig && s.sessionAffinity !== 'ClientIP')
      addReasons(ctx, ['sessionAffinityConfig'], ['must not be set unless `sessionAffinity` is ClientIP']);
    if (timeout != null && (timeout <= 0 || timeout > MAX_AFFINITY_TIMEOUT_SECONDS))
      addReasons(
        ctx,
        ['sessionAffinityConfig', 'clientIP', 'timeoutSeconds'],
        [`must be greater than 0 and less than or equal to ${MAX_AFFINITY_TIMEOUT_SECONDS}`],
        timeout,
      );
    // clusterIPs passes the field rules only as a one-item list; here it must also name clusterIP.
    const clusterIPs = s.clusterIPs;
    if (Array.isArray(clusterIPs) && clusterIPs.length === 1 && clusterIPs[0] !== s.clusterIP) {
      const want = s.clusterIP
        ? `[spec.clusterIP] (${JSON.stringify([s.clusterIP])})`
        : '[spec.clusterIP], and spec.clusterIP is not set';
      addReasons(ctx, ['clusterIPs'], [`must be ${want}: ${F.NOT_YET} (one cluster IP per Service)`]);
    }
    const ports = s.ports ?? [];
    const headless = s.clusterIP === 'None';
    if (ports.length === 0 && s.type !== 'ExternalName' && !headless) addReasons(ctx, ['ports'], ['is required']);
    if (headless && external)
      addReasons(ctx, ['clusterIP'], [`may not be "None" when \`type\` is '${s.type}'`], 'None');
    if (s.clusterIP && !headless && !tryParseIp(s.clusterIP)) {
      addReasons(
        ctx,
        ['clusterIP'],
        ['must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff) or "None"'],
        s.clusterIP,
      );
    }
    const names = new Set<string>();
    const keys = new Set<string>();
    ports.forEach((p, i) => {
      if (p.name == null || p.name === '') {
        if (ports.length > 1)
          addReasons(ctx, ['ports', i, 'name'], ['is required when a Service has more than one port']);
      } else {
        addReasons(ctx, ['ports', i, 'name'], checkDns1123Label(p.name), p.name);
        if (names.has(p.name)) addReasons(ctx, ['ports', i, 'name'], ['duplicate port name'], p.name);
        names.add(p.name);
      }
      const key = `${p.port}/${p.protocol}`;
      if (keys.has(key)) addReasons(ctx, ['ports', i], [`duplicate port ${key}`]);
      keys.add(key);
      if (p.nodePort != null && (s.type === 'ClusterIP' || s.type == null)) {
        addReasons(ctx, ['ports', i, 'nodePort'], ["may not be used when `type` is 'ClusterIP'"], p.nodePort);
      }
    });
  })
  .transform((s) => {
    const ports = (s.ports ?? []).map((p) => {
      const out: ServicePort = { protocol: p.protocol, port: p.port, targetPort: p.targetPort || p.port };
      if (p.name) out.name = p.name;
      if (p.nodePort != null) out.nodePort = p.nodePort;
      return { ...out, ...keptOf(p, F.SERVICE_PORT) };
    });
    const type = s.type ?? 'ClusterIP';
    // The API server's defaults: sessionAffinity None, its timeout 3 h with ClientIP, both
    // traffic policies Cluster where they apply.
    const out: Service['spec'] = { ports, type, sessionAffinity: s.sessionAffinity ?? 'None' };
    // An empty selector means "no selector" for a Service: its EndpointSlices are written by hand.
    if (s.selector && Object.keys(s.selector).length > 0) out.selector = s.selector;
    if (s.clusterIP) out.clusterIP = s.clusterIP;
    if (out.sessionAffinity === 'ClientIP')
      out.sessionAffinityConfig = {
        clientIP: {
          timeoutSeconds: s.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS,
        },
      };
    const externalIPs = s.externalIPs ?? [];
    if (type === 'NodePort' || type === 'LoadBalancer' || (type === 'ClusterIP' && externalIPs.length > 0))
      out.externalTrafficPolicy = s.externalTrafficPolicy ?? 'Cluster';
    if (externalIPs.length > 0) out.externalIPs = externalIPs;
    if (s.loadBalancerSourceRanges && s.loadBalancerSourceRanges.length > 0)
      out.loadBalancerSourceRanges = s.loadBalancerSourceRanges;
    if (s.healthCheckNodePort) out.healthCheckNodePort = s.healthCheckNodePort;
    if (type !== 'ExternalName') out.internalTrafficPolicy = s.internalTrafficPolicy ?? 'Cluster';
    if (s.externalName) out.externalName = s.externalName;
    if (s.publishNotReadyAddresses != null) out.publishNotReadyAddresses = s.publishNotReadyAddresses;
    return { ...out, ...keptOf(s, F.SERVICE_SPEC) };
  });

/**
 * externalIPs, loadBalancerSourceRanges and healthCheckNodePort, as the API server checks them
 * (ValidateService, validateServiceExternalTrafficPolicy; messages as it words them). weft adds
 * one refusal of its own: its data plane is IPv4 only, so an IPv6 address or range would do
 * nothing, and a field that does nothing is refused rather than dropped. External IPs of headless
 * and ExternalName Services are refused too: kube-proxy gives such Services no rules at all.
 */
function checkExternalFields(
  s: {
    type?: string | null;
    clusterIP?: string | null;
    externalTrafficPolicy?: string | null;
    externalIPs?: string[] | null;
    loadBalancerSourceRanges?: string[] | null;
    healthCheckNodePort?: number | null;
  },
  ctx: z.RefinementCtx,
): void {
  const externalIPs = s.externalIPs ?? [];
  if (externalIPs.length > 0 && (s.type === 'ExternalName' || s.clusterIP === 'None'))
    addReasons(
      ctx,
      ['externalIPs'],
      [
        `has no effect on a ${s.type === 'ExternalName' ? 'ExternalName' : 'headless'} Service (kube-proxy gives it no rules): weft refuses it`,
      ],
    );
  externalIPs.forEach((text, i) => {
    const ip = tryParseIp(text);
    if (!ip)
      return addReasons(
        ctx,
        ['externalIPs', i],
        ['must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'],
        text,
      );
    addReasons(ctx, ['externalIPs', i], specialIpReasons(text), text);
    if (ip.family !== 4)
      addReasons(ctx, ['externalIPs', i], [`must be an IPv4 address: ${F.NOT_YET} (IPv4 only)`], text);
  });
  const ranges = s.loadBalancerSourceRanges ?? [];
  if (ranges.length > 0 && s.type !== 'LoadBalancer')
    addReasons(ctx, ['loadBalancerSourceRanges'], ["Forbidden: may only be used when `type` is 'LoadBalancer'"]);
  ranges.forEach((text, i) => {
    // Space padding is allowed, a leftover of the annotation this field replaced (the API server trims).
    const cidr = tryParseCidr(text.trim());
    if (!cidr)
      return addReasons(
        ctx,
        ['loadBalancerSourceRanges', i],
        ['must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'],
        text,
      );
    if (cidr.address.family !== 4)
      addReasons(ctx, ['loadBalancerSourceRanges', i], [`must be an IPv4 range: ${F.NOT_YET} (IPv4 only)`], text);
  });
  if (s.healthCheckNodePort && !(s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local'))
    addReasons(
      ctx,
      ['healthCheckNodePort'],
      ["may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"],
      s.healthCheckNodePort,
    );
}

/** The API server's ValidateNonSpecialIP: addresses no Service may claim. */
function specialIpReasons(text: string): string[] {
  const ip = tryParseIp(text);
  if (!ip || ip.family !== 4) return [];
  const inside = (cidr: string) => cidrContains(parseCidr(cidr), ip);
  if (inside('0.0.0.0/32')) return ['may not be unspecified (0.0.0.0)'];
  if (inside('127.0.0.0/8')) return ['may not be in the loopback range (127.0.0.0/8, ::1/128)'];
  if (inside('169.254.0.0/16')) return ['may not be in the link-local range (169.254.0.0/16, fe80::/10)'];
  if (inside('224.0.0.0/24')) return ['may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'];
  return [];
}

export const SERVICE: z.ZodType<Service, z.ZodTypeDef, unknown> = fieldsOf(
  {
    apiVersion: z.literal('v1'),
    kind: z.literal('Service'),
    metadata: namespacedMeta(checkDns1035Label),
    spec: SERVICE_SPEC,
  },
  F.SERVICE_OBJECT,
).transform(({ apiVersion, kind, metadata, spec }) => ({ apiVersion, kind, metadata, spec }));

const ENDPOINT = fieldsOf(
  {
    addresses: z.array(z.string(), { required_error: 'is required' }),
    conditions: fieldsOf({
      ready: z.boolean().nullish(),
      serving: z.boolean().nullish(),
      terminating: z.boolean().nullish(),
    }).nullish(),
    nodeName: z.string().nullish(),
    hostname: z.string().nullish(),
  },
  F.ENDPOINT,
);

const ENDPOINT_PORT = fieldsOf(
  {
    name: z.string().nullish(),
    protocol: PROTOCOL,
    port: PORT_NUMBER.nullish(),
  },
  F.ENDPOINT_PORT,
);

const MAX_ENDPOINTS = 1000;
const MAX_ADDRESSES = 100;
const MAX_PORTS = 100;

export const ENDPOINT_SLICE: z.ZodType<EndpointSlice, z.ZodTypeDef, unknown> = fieldsOf({
  apiVersion: z.literal('discovery.k8s.io/v1'),
  kind: z.literal('EndpointSlice'),
  metadata: namespacedMeta(checkDns1123Subdomain),
  addressType: enumOf(['IPv4', 'IPv6', 'FQDN']),
  endpoints: z.array(ENDPOINT).max(MAX_ENDPOINTS, `must have at most ${MAX_ENDPOINTS} items`).nullish(),
  ports: z.array(ENDPOINT_PORT).max(MAX_PORTS, `must have at most ${MAX_PORTS} items`).nullish(),
})
  .superRefine((s, ctx) => {
    (s.endpoints ?? []).forEach((e, ei) => {
      if (e.addresses.length === 0)
        addReasons(ctx, ['endpoints', ei, 'addresses'], ['must contain at least 1 address']);
      if (e.addresses.length > MAX_ADDRESSES)
        addReasons(ctx, ['endpoints', ei, 'addresses'], [`must have at most ${MAX_ADDRESSES} items`]);
      e.addresses.forEach((a, ai) => {
        const path = ['endpoints', ei, 'addresses', ai];
        if (s.addressType === 'FQDN') return addReasons(ctx, path, checkDns1123Subdomain(a), a);
        const ip = tryParseIp(a);
        const family = s.addressType === 'IPv4' ? 4 : 6;
        if (!ip || ip.family !== family) addReasons(ctx, path, [`must be a valid ${s.addressType} address`], a);
      });
      if (e.nodeName) addReasons(ctx, ['endpoints', ei, 'nodeName'], checkDns1123Subdomain(e.nodeName), e.nodeName);
      // validateEndpoints: a hostname is a DNS-1123 label (cluster DNS makes it a name's first label).
      if (e.hostname != null) addReasons(ctx, ['endpoints', ei, 'hostname'], checkDns1123Label(e.hostname), e.hostname);
    });
    const names = new Set<string>();
    (s.ports ?? []).forEach((p, i) => {
      const name = p.name ?? '';
      if (name !== '') addReasons(ctx, ['ports', i, 'name'], checkDns1123Label(name), name);
      if (names.has(name)) addReasons(ctx, ['ports', i, 'name'], ['duplicate port name'], name);
      names.add(name);
    });
  })
  .transform((s) => ({
    apiVersion: s.apiVersion,
    kind: s.kind,
    metadata: s.metadata,
    addressType: s.addressType,
    endpoints: (s.endpoints ?? []).map((e) => {
      const out: Endpoint = { addresses: e.addresses };
      if (e.conditions) {
        out.conditions = {};
        if (e.conditions.ready != null) out.conditions.ready = e.conditions.ready;
        if (e.conditions.serving != null) out.conditions.serving = e.conditions.serving;
        if (e.conditions.terminating != null) out.conditions.terminating = e.conditions.terminating;
      }
      if (e.nodeName) out.nodeName = e.nodeName;
      if (e.hostname != null) out.hostname = e.hostname;
      return { ...out, ...keptOf(e, F.ENDPOINT) };
    }),
    ports: (s.ports ?? []).map((p) => {
      const out: EndpointPort = { protocol: p.protocol };
      if (p.name) out.name = p.name;
      if (p.port != null) out.port = p.port;
      return { ...out, ...keptOf(p, F.ENDPOINT_PORT) };
    }),
  }));
