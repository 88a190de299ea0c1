/**
 * Zod schemas for Ingress and IngressClass (networking.k8s.io/v1) and Secret (v1), with the API
 * server's checks (k8s.io/kubernetes pkg/apis/networking/validation ValidateIngressSpec,
 * ValidateIngressClass; pkg/apis/core/validation ValidateSecret), worded as it words them:
 *
 * - Ingress: `defaultBackend` or `rules` is required; a rule's host is a DNS-1123 subdomain, or
 *   one with a single leading `*.` label, never an IP address; an `http` rule has paths; each path
 *   has a pathType (Exact / Prefix / ImplementationSpecific); Exact and Prefix paths are absolute
 *   and hold none of `//`, `/./`, `/../`, `%2f` and end in neither `/.` nor `/..`; a backend is a
 *   Service (a DNS-1035 name) with exactly one of port.number and port.name; tls hosts are checked
 *   as rule hosts; ingressClassName is a DNS-1123 subdomain and must agree with the deprecated
 *   `kubernetes.io/ingress.class` annotation when both are set.
 * - IngressClass: spec.controller is required, a domain-prefixed path of at most 250 characters.
 * - Secret: data keys are config keys, values base64; stringData is merged over data (as the API
 *   server's conversion does); at most 1 MiB of data. Type kubernetes.io/tls requires tls.crt and
 *   tls.key; weft also requires them to be PEM (a certificate and a private key), which the API
 *   server leaves to the controller, because nginx would only fail later, far from the mistake.
 *
 * Every level is decoded strictly (fieldsOf); what is kept and refused is in schema-fields.ts.
 */

import { z } from 'zod';
import { tryParseIp } from '../net/ip.js';
import {
  INGRESS_CLASS_ANNOTATION,
  PATH_TYPES,
  TLS_SECRET_TYPE,
  type HttpIngressPath,
  type Ingress,
  type IngressBackend,
  type IngressClass,
  type IngressRule,
  type IngressTls,
  type Secret,
} from './objects.js';
import { checkDns1035Label, checkDns1123Subdomain, checkPortName, checkPortNumber } from './names.js';
import { addReasons, clusterMeta, enumOf, fieldsOf, INTEGER, keptOf, namespacedMeta } from './schema-common.js';
import * as F from './schema-fields.js';

const WILDCARD_SUBDOMAIN = /^\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** IsWildcardDNS1123Subdomain. */
export function checkWildcardSubdomain(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push('must be no more than 253 characters');
  if (!WILDCARD_SUBDOMAIN.test(value))
    errs.push(
      "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com')",
    );
  return errs;
}

/** A rule's or a tls entry's host: a subdomain or a wildcard one (a rule's host may not be an IP). */
export function checkIngressHost(host: string, rule: boolean): string[] {
  const errs: string[] = [];
  if (rule && tryParseIp(host)) errs.push('must be a DNS name, not an IP address');
  errs.push(...(host.includes('*') ? checkWildcardSubdomain(host) : checkDns1123Subdomain(host)));
  return errs;
}

const INVALID_PATH_SEQUENCES = ['//', '/./', '/../', '%2f', '%2F'];
const INVALID_PATH_SUFFIXES = ['/..', '/.'];

/** validateIngressHTTPIngressPath's checks of the path text for a pathType. */
export function checkIngressPath(path: string, pathType: string): string[] {
  if (pathType === 'ImplementationSpecific')
    return path !== '' && !path.startsWith('/') ? ['must be an absolute path'] : [];
  const errs: string[] = [];
  if (!path.startsWith('/')) errs.push('must be an absolute path');
  if (path === '') return errs;
  for (const seq of INVALID_PATH_SEQUENCES) if (path.includes(seq)) errs.push(`must not contain '${seq}'`);
  for (const suffix of INVALID_PATH_SUFFIXES) if (path.endsWith(suffix)) errs.push(`cannot end with '${suffix}'`);
  return errs;
}

const BACKEND = fieldsOf(
  {
    service: fieldsOf({
      name: z.string().nullish(),
      port: fieldsOf({ number: INTEGER.nullish(), name: z.string().nullish() }).nullish(),
    }).nullish(),
  },
  F.INGRESS_BACKEND,
)
  .superRefine((b, ctx) => {
    // A resource backend is refused by its field rule; this is the "neither" case.
    if (!b.service) {
      if ((b as Record<string, unknown>).resource == null)
        addReasons(ctx, [], ['resource or service backend is required']);
      return;
    }
    const name = b.service.name ?? '';
    if (name === '') addReasons(ctx, ['service', 'name'], ['Required value']);
    else addReasons(ctx, ['service', 'name'], checkDns1035Label(name), name);
    const portName = b.service.port?.name ?? '';
    const portNumber = b.service.port?.number ?? 0;
    if (portName !== '' && portNumber !== 0)
      addReasons(ctx, ['service', 'port'], ['cannot set both port name & port number']);
    else if (portName !== '') addReasons(ctx, ['service', 'port', 'name'], checkPortName(portName), portName);
    else if (portNumber !== 0) addReasons(ctx, ['service', 'port', 'number'], checkPortNumber(portNumber), portNumber);
    else addReasons(ctx, ['service', 'port'], ['Required value: port name or number is required']);
  })
  .transform((b): IngressBackend => {
    const s = b.service!;
    const port = s.port?.name ? { name: s.port.name } : { number: s.port?.number ?? 0 };
    return { service: { name: s.name ?? '', port } };
  });

const PATH = fieldsOf({
  path: z.string().nullish(),
  pathType: enumOf(PATH_TYPES).nullish(),
  backend: BACKEND,
})
  .superRefine((p, ctx) => {
    if (p.pathType == null) return addReasons(ctx, ['pathType'], ['Required value: pathType must be specified']);
    const path = p.path ?? '';
    addReasons(ctx, ['path'], checkIngressPath(path, p.pathType), path);
  })
  .transform((p): HttpIngressPath => ({ path: p.path || '/', pathType: p.pathType ?? 'Prefix', backend: p.backend }));

const RULE = fieldsOf({
  host: z.string().nullish(),
  http: fieldsOf({ paths: z.array(PATH).nullish() }).nullish(),
})
  .superRefine((r, ctx) => {
    if (r.host) addReasons(ctx, ['host'], checkIngressHost(r.host, true), r.host);
    if (r.http && (r.http.paths ?? []).length === 0) addReasons(ctx, ['http', 'paths'], ['Required value']);
  })
  .transform((r): IngressRule => {
    const out: IngressRule = {};
    if (r.host) out.host = r.host;
    if (r.http) out.http = { paths: r.http.paths ?? [] };
    return out;
  });

const TLS = fieldsOf({ hosts: z.array(z.string()).nullish(), secretName: z.string().nullish() })
  .superRefine((t, ctx) => {
    (t.hosts ?? []).forEach((h, i) => addReasons(ctx, ['hosts', i], checkIngressHost(h, false), h));
  })
  .transform((t): IngressTls => ({ hosts: t.hosts ?? [], ...(t.secretName ? { secretName: t.secretName } : {}) }));

const INGRESS_SPEC = fieldsOf({
  ingressClassName: z.string().nullish(),
  defaultBackend: BACKEND.nullish(),
  tls: z.array(TLS).nullish(),
  rules: z.array(RULE).nullish(),
})
  .superRefine((s, ctx) => {
    if ((s.rules ?? []).length === 0 && !s.defaultBackend)
      addReasons(ctx, [], ['either `defaultBackend` or `rules` must be specified']);
    if (s.ingressClassName != null)
      addReasons(ctx, ['ingressClassName'], checkDns1123Subdomain(s.ingressClassName), s.ingressClassName);
  })
  .transform((s) => {
    const out: Ingress['spec'] = { tls: s.tls ?? [], rules: s.rules ?? [] };
    if (s.ingressClassName) out.ingressClassName = s.ingressClassName;
    if (s.defaultBackend) out.defaultBackend = s.defaultBackend;
    return out;
  });

export const INGRESS: z.ZodType<Ingress, z.ZodTypeDef, unknown> = fieldsOf(
  {
    apiVersion: z.literal('networking.k8s.io/v1'),
    kind: z.literal('Ingress'),
    metadata: namespacedMeta(checkDns1123Subdomain),
    spec: INGRESS_SPEC,
  },
  F.INGRESS_OBJECT,
)
  .superRefine((i, ctx) => {
    const annotated = i.metadata.annotations[INGRESS_CLASS_ANNOTATION];
    const named = i.spec.ingressClassName;
    if (annotated !== undefined && named !== undefined && annotated !== named)
      addReasons(
        ctx,
        ['metadata', 'annotations', INGRESS_CLASS_ANNOTATION],
        ['must match `ingressClassName` when both are specified'],
        annotated,
      );
  })
  .transform(({ apiVersion, kind, metadata, spec }) => ({ apiVersion, kind, metadata, spec }));

const HTTP_PATH_CHARS = /^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/;

/** ValidateDomainPrefixedPath (an IngressClass's controller). */
export function checkDomainPrefixedPath(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 250) errs.push('must be no more than 250 characters');
  const slash = value.indexOf('/');
  const host = slash < 0 ? '' : value.slice(0, slash);
  const rest = slash < 0 ? '' : value.slice(slash + 1);
  if (host === '' || rest === '') return [...errs, 'must be a domain-prefixed path (such as "acme.io/foo")'];
  errs.push(...checkDns1123Subdomain(host));
  if (!HTTP_PATH_CHARS.test(rest)) errs.push('must be a valid path');
  return errs;
}

export const INGRESS_CLASS: z.ZodType<IngressClass, z.ZodTypeDef, unknown> = fieldsOf({
  apiVersion: z.literal('networking.k8s.io/v1'),
  kind: z.literal('IngressClass'),
  metadata: clusterMeta(checkDns1123Subdomain),
  spec: fieldsOf({ controller: z.string().nullish() }, F.INGRESS_CLASS_SPEC)
    .superRefine((s, ctx) => {
      if (!s.controller) return addReasons(ctx, ['controller'], ['Required value']);
      addReasons(ctx, ['controller'], checkDomainPrefixedPath(s.controller), s.controller);
    })
    .transform((s) => ({ controller: s.controller ?? '', ...keptOf(s, F.INGRESS_CLASS_SPEC) })),
}).transform(({ apiVersion, kind, metadata, spec }) => ({ apiVersion, kind, metadata, spec }));

const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
/** The API server's MaxSecretSize. */
export const MAX_SECRET_BYTES = 1024 * 1024;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** IsConfigMapKey. */
function checkConfigKey(key: string): string[] {
  const errs: string[] = [];
  if (key.length > 253) errs.push('must be no more than 253 characters');
  if (!CONFIG_KEY.test(key)) errs.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
  if (key === '.' || key === '..' || key.startsWith('..')) errs.push("must not be '.' or '..' or start with '..'");
  return errs;
}

/** The bytes of base64 text as a binary string (atob: pure, no node:buffer), or undefined when it is not base64. */
export function decodeBase64(text: string): string | undefined {
  if (!BASE64.test(text)) return undefined;
  return atob(text);
}

/** base64 of a UTF-8 string (stringData's values). */
export function encodeBase64Utf8(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/;
const PEM_KEY = /-----BEGIN ([A-Z]+ )?PRIVATE KEY-----[\s\S]+-----END ([A-Z]+ )?PRIVATE KEY-----/;

export const SECRET: z.ZodType<Secret, z.ZodTypeDef, unknown> = fieldsOf(
  {
    apiVersion: z.literal('v1'),
    kind: z.literal('Secret'),
    metadata: namespacedMeta(checkDns1123Subdomain),
    type: z.string().nullish(),
    data: z.record(z.string({ invalid_type_error: 'must be base64 text' })).nullish(),
    stringData: z.record(z.string()).nullish(),
  },
  F.SECRET_OBJECT,
)
  .superRefine((s, ctx) => {
    const decoded = new Map<string, string>();
    for (const [key, value] of Object.entries(s.data ?? {})) {
      addReasons(ctx, ['data', key], checkConfigKey(key), key);
      const bytes = decodeBase64(value);
      if (bytes === undefined) addReasons(ctx, ['data', key], ['illegal base64 data']);
      else decoded.set(key, bytes);
    }
    for (const [key, value] of Object.entries(s.stringData ?? {})) {
      addReasons(ctx, ['stringData', key], checkConfigKey(key), key);
      decoded.set(key, value);
    }
    let total = 0;
    for (const v of decoded.values()) total += v.length;
    if (total > MAX_SECRET_BYTES)
      addReasons(ctx, ['data'], [`Too long: must have at most ${MAX_SECRET_BYTES} bytes, has ${total}`]);
    if (s.type === TLS_SECRET_TYPE) {
      const where = (key: string) => (s.stringData?.[key] !== undefined ? 'stringData' : 'data');
      const crt = decoded.get('tls.crt');
      const key = decoded.get('tls.key');
      if (crt === undefined) addReasons(ctx, ['data', 'tls.crt'], ['Required value']);
      else if (!PEM_CERT.test(crt))
        addReasons(
          ctx,
          [where('tls.crt'), 'tls.crt'],
          ['must be a PEM-encoded certificate (-----BEGIN CERTIFICATE-----)'],
        );
      if (key === undefined) addReasons(ctx, ['data', 'tls.key'], ['Required value']);
      else if (!PEM_KEY.test(key))
        addReasons(
          ctx,
          [where('tls.key'), 'tls.key'],
          ['must be a PEM-encoded private key (-----BEGIN PRIVATE KEY-----)'],
        );
    }
  })
  .transform((s): Secret => {
    const data: Record<string, string> = { ...(s.data ?? {}) };
    for (const [key, value] of Object.entries(s.stringData ?? {})) data[key] = encodeBase64Utf8(value);
    return {
      apiVersion: s.apiVersion,
      kind: s.kind,
      metadata: s.metadata,
      type: s.type || 'Opaque',
      data,
      ...keptOf(s, F.SECRET_OBJECT),
    };
  });
