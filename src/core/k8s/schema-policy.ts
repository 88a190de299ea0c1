/**
 * The NetworkPolicy (networking.k8s.io/v1) schema, validated as the API server validates it
 * (k8s.io/kubernetes pkg/apis/networking/validation: ValidateNetworkPolicySpec, -Peer, -Port,
 * ValidateIPBlock) and defaulted as it defaults it (protocol TCP; policyTypes Ingress, plus
 * Egress when egress rules exist). Policy is where a mistake opens or closes traffic silently,
 * so every field of the API is modelled and acted on, nothing is kept as written, and every
 * unknown field is refused with its path (fieldsOf; status is refused, see schema-fields.ts).
 */

import { z } from 'zod';
import { hostMask, networkOf, tryParseCidr } from '../net/ip.js';
import type { IpBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, PolicyType } from './objects.js';
import { checkDns1123Subdomain, checkPortNumber } from './names.js';
import {
  addReasons,
  fieldsOf,
  INTEGER,
  LABEL_SELECTOR,
  namespacedMeta,
  PORT_OR_NAME,
  PROTOCOL,
} from './schema-common.js';
import { NETWORK_POLICY_OBJECT } from './schema-fields.js';

const POLICY_TYPES: readonly PolicyType[] = ['Ingress', 'Egress'];

/**
 * cidr must parse; each except must parse and be a strict subset of cidr: contained in it and
 * with a longer prefix (so an except equal to cidr, or of the other family, is refused).
 * Host bits may be set ("10.0.0.1/24"), as the API server accepts for this legacy field.
 */
const IP_BLOCK: z.ZodType<IpBlock, z.ZodTypeDef, unknown> = fieldsOf({
  cidr: z.string({ required_error: 'is required' }),
  except: z.array(z.string()).nullish(),
})
  .superRefine((b, ctx) => {
    if (b.cidr === '') return addReasons(ctx, ['cidr'], ['is required']);
    const cidr = tryParseCidr(b.cidr);
    if (!cidr) addReasons(ctx, ['cidr'], ['must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'], b.cidr);
    (b.except ?? []).forEach((text, i) => {
      const except = tryParseCidr(text);
      if (!except)
        return addReasons(
          ctx,
          ['except', i],
          ['must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'],
          text,
        );
      if (!cidr) return;
      const outer = networkOf(cidr);
      const inner = networkOf(except);
      const mask = hostMask(outer.address.family, outer.prefix);
      const inside =
        inner.address.family === outer.address.family &&
        (inner.address.value & ~mask) === outer.address.value &&
        outer.prefix < inner.prefix;
      if (!inside) addReasons(ctx, ['except', i], ['must be a strict subset of `cidr`'], text);
    });
  })
  .transform((b) => ({ cidr: b.cidr, except: b.except ?? [] }));

/** A peer names pods (by pod and/or namespace selector) or an ipBlock, never both, never neither. */
const PEER: z.ZodType<NetworkPolicyPeer, z.ZodTypeDef, unknown> = fieldsOf({
  podSelector: LABEL_SELECTOR.nullish(),
  namespaceSelector: LABEL_SELECTOR.nullish(),
  ipBlock: IP_BLOCK.nullish(),
})
  .superRefine((p, ctx) => {
    const count = [p.podSelector, p.namespaceSelector, p.ipBlock].filter((x) => x != null).length;
    if (count === 0) addReasons(ctx, [], ['must specify a peer']);
    else if (count > 1 && p.ipBlock != null) addReasons(ctx, [], ['may not specify both ipBlock and another peer']);
  })
  .transform((p) => {
    const out: NetworkPolicyPeer = {};
    if (p.podSelector) out.podSelector = p.podSelector;
    if (p.namespaceSelector) out.namespaceSelector = p.namespaceSelector;
    if (p.ipBlock) out.ipBlock = p.ipBlock;
    return out;
  });

/** endPort only with a numeric port, at least port and at most 65535. */
const PORT: z.ZodType<NetworkPolicyPort, z.ZodTypeDef, unknown> = fieldsOf({
  protocol: PROTOCOL.nullish(),
  port: PORT_OR_NAME.nullish(),
  endPort: INTEGER.nullish(),
})
  .superRefine((p, ctx) => {
    if (p.endPort == null) return;
    if (p.port == null)
      return addReasons(ctx, ['endPort'], ['may not be specified when `port` is not specified'], p.endPort);
    if (typeof p.port === 'string')
      return addReasons(ctx, ['endPort'], ['may not be specified when `port` is non-numeric'], p.endPort);
    if (p.endPort < p.port) addReasons(ctx, ['endPort'], ['must be greater than or equal to `port`'], p.endPort);
    addReasons(ctx, ['endPort'], checkPortNumber(p.endPort), p.endPort);
  })
  .transform((p) => {
    const out: NetworkPolicyPort = { protocol: p.protocol ?? 'TCP' };
    if (p.port != null) out.port = p.port;
    if (p.endPort != null) out.endPort = p.endPort;
    return out;
  });

const INGRESS_RULE = fieldsOf({ from: z.array(PEER).nullish(), ports: z.array(PORT).nullish() }).transform((r) => ({
  from: r.from ?? [],
  ports: r.ports ?? [],
}));

const EGRESS_RULE = fieldsOf({ to: z.array(PEER).nullish(), ports: z.array(PORT).nullish() }).transform((r) => ({
  to: r.to ?? [],
  ports: r.ports ?? [],
}));

const SPEC = fieldsOf({
  podSelector: LABEL_SELECTOR.nullish(),
  policyTypes: z.array(z.string()).nullish(),
  ingress: z.array(INGRESS_RULE).nullish(),
  egress: z.array(EGRESS_RULE).nullish(),
})
  .superRefine((s, ctx) => {
    const types = s.policyTypes ?? [];
    if (types.length > POLICY_TYPES.length)
      return addReasons(ctx, ['policyTypes'], ['may not specify more than two policyTypes']);
    types.forEach((t, i) => {
      if (!POLICY_TYPES.includes(t as PolicyType)) {
        addReasons(
          ctx,
          ['policyTypes', i],
          [`unsupported value ${JSON.stringify(t)} (supported: ${POLICY_TYPES.join(', ')})`],
        );
      }
    });
  })
  .transform((s) => {
    const ingress = s.ingress ?? [];
    const egress = s.egress ?? [];
    // SetDefaults_NetworkPolicy: an omitted policyTypes means Ingress, plus Egress if egress rules exist.
    let policyTypes = (s.policyTypes ?? []) as PolicyType[];
    if (policyTypes.length === 0) policyTypes = egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
    return { podSelector: s.podSelector ?? { matchLabels: {}, matchExpressions: [] }, policyTypes, ingress, egress };
  });

export const NETWORK_POLICY: z.ZodType<NetworkPolicy, z.ZodTypeDef, unknown> = fieldsOf(
  {
    apiVersion: z.literal('networking.k8s.io/v1'),
    kind: z.literal('NetworkPolicy'),
    metadata: namespacedMeta(checkDns1123Subdomain),
    // A missing spec decodes to the zero value on the API server: all pods, ingress denied.
    spec: SPEC.default({}),
  },
  NETWORK_POLICY_OBJECT,
).transform(({ apiVersion, kind, metadata, spec }) => ({ apiVersion, kind, metadata, spec }));
