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

import { z } from 'zod';
import { tryParseIp } from '../net/ip.js';
import type {
  Container,
  Endpoint,
  EndpointPort,
  EndpointSlice,
  Namespace,
  Pod,
  Service,
  ServicePort,
} from './objects.js';
import { DEFAULT_AFFINITY_TIMEOUT_SECONDS, MAX_AFFINITY_TIMEOUT_SECONDS } from './objects.js';
import { checkDns1035Label, checkDns1123Label, checkDns1123Subdomain } from './names.js';
import {
  addReasons,
  clusterMeta,
  enumOf,
  fieldsOf,
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

const CONTAINER: z.ZodType<Container, z.ZodTypeDef, unknown> = fieldsOf(
  {
    name: z.string({ required_error: 'is required' }),
    image: z.string().nullish(),
    ports: z.array(CONTAINER_PORT).nullish(),
  },
  F.CONTAINER,
)
  .superRefine((c, ctx) => {
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
    return { ...out, ...keptOf(c, F.CONTAINER) };
  });

const POD_SPEC = fieldsOf(
  {
    nodeName: z.string().nullish(),
    hostNetwork: z.boolean().nullish(),
    containers: z.array(CONTAINER, { required_error: 'is required' }),
    hostname: z.string().nullish(),
    subdomain: z.string().nullish(),
  },
  F.POD_SPEC,
)
  .superRefine((s, ctx) => {
    if (s.nodeName) addReasons(ctx, ['nodeName'], checkDns1123Subdomain(s.nodeName), s.nodeName);
    // ValidatePodSpec: both are DNS-1123 labels when set.
    if (s.hostname) addReasons(ctx, ['hostname'], checkDns1123Label(s.hostname), s.hostname);
    if (s.subdomain) addReasons(ctx, ['subdomain'], checkDns1123Label(s.subdomain), s.subdomain);
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
    if (s.nodeName) out.nodeName = s.nodeName;
    if (s.hostname) out.hostname = s.hostname;
    if (s.subdomain) out.subdomain = s.subdomain;
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
).transform(({ apiVersion, kind, metadata, spec }) => ({ apiVersion, kind, metadata, spec }));

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
    publishNotReadyAddresses: z.boolean().nullish(),
  },
  F.SERVICE_SPEC,
)
  .superRefine((s, ctx) => {
    const external = s.type === 'NodePort' || s.type === 'LoadBalancer';
    if (s.type === 'ExternalName') {
      if (!s.externalName) addReasons(ctx, ['externalName'], ['Required value']);
      else addReasons(ctx, ['externalName'], checkDns1123Subdomain(s.externalName), s.externalName);
      if (s.clusterIP) addReasons(ctx, ['clusterIP'], ['may not be set for ExternalName services'], s.clusterIP);
    } else if (s.externalName) {
      addReasons(ctx, ['externalName'], ["may only be set when `type` is 'ExternalName'"], s.externalName);
    }
    if (s.externalTrafficPolicy && !external)
      addReasons(
        ctx,
        ['externalTrafficPolicy'],
        ["may only be set when `type` is 'NodePort' or 'LoadBalancer'"],
        s.externalTrafficPolicy,
      );
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
    if (type === 'NodePort' || type === 'LoadBalancer')
      out.externalTrafficPolicy = s.externalTrafficPolicy ?? 'Cluster';
    if (type !== 'ExternalName') out.internalTrafficPolicy = s.internalTrafficPolicy ?? 'Cluster';
    if (s.externalName) out.externalName = s.externalName;
    if (s.publishNotReadyAddresses != null) out.publishNotReadyAddresses = s.publishNotReadyAddresses;
    return { ...out, ...keptOf(s, F.SERVICE_SPEC) };
  });

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
