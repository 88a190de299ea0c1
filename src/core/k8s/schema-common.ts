/**
 * Zod schemas for the pieces every kind shares: metadata, labels, label selectors, protocols and
 * port numbers. Structure (types, required fields, enums) is zod's job; the API server's string
 * rules come from names.ts and are attached as refinements, so that one parse yields every
 * problem with its field path, the way `kubectl apply` reports a rejected object.
 *
 * Unknown fields are dropped, not rejected, in metadata and in the specs weft models only in part
 * (Pod, Service), so real manifests apply unchanged; selectors are strict, because a typo there
 * ("matchLabel") silently widens a policy to every pod.
 */

import { z } from 'zod';
import type { ClusterObjectMeta, LabelSelector, Labels, ObjectMeta, Protocol } from './objects.js';
import { PROTOCOLS, SELECTOR_OPERATORS } from './objects.js';
import { checkDns1123Label, checkLabelValue, checkPortName, checkPortNumber, checkQualifiedName } from './names.js';

export type NameCheck = (value: string) => string[];

/** Adds one issue per reason at the given path (relative to the refined schema). */
export function addReasons(ctx: z.RefinementCtx, path: Array<string | number>, reasons: string[], value?: string | number): void {
  for (const reason of reasons) {
    const shown = value === undefined ? '' : `${JSON.stringify(value)}: `;
    ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: `${shown}${reason}` });
  }
}

function oneOf(values: readonly string[]): z.ZodErrorMap {
  return (issue, ctx) => {
    if (issue.code === z.ZodIssueCode.invalid_enum_value) {
      return { message: `unsupported value ${JSON.stringify(issue.received)} (supported: ${values.join(', ')})` };
    }
    return { message: ctx.defaultError };
  };
}

/** An enum whose error lists the supported values, as the API server's NotSupported does. */
export function enumOf<const T extends readonly [string, ...string[]]>(values: T): z.ZodEnum<z.Writeable<T>> {
  return z.enum(values, { errorMap: oneOf(values) });
}

export const PROTOCOL: z.ZodType<Protocol, z.ZodTypeDef, unknown> = enumOf(PROTOCOLS as readonly [Protocol, ...Protocol[]]).default('TCP');

export const INTEGER = z.number({ invalid_type_error: 'must be an integer' }).int('must be an integer');

/** A port number 1-65535. */
export const PORT_NUMBER = INTEGER.superRefine((n, ctx) => addReasons(ctx, [], checkPortNumber(n), n));

/** IntOrString holding a port: a number 1-65535 or an IANA service name. */
export const PORT_OR_NAME = z
  .union([INTEGER, z.string()], { errorMap: () => ({ message: 'must be a port number or a port name' }) })
  .superRefine((p, ctx) => addReasons(ctx, [], typeof p === 'number' ? checkPortNumber(p) : checkPortName(p), p));

export const PORT_NAME = z.string().superRefine((s, ctx) => addReasons(ctx, [], checkPortName(s), s));

/** A string map whose keys are qualified names and whose values are label values. */
export const LABELS: z.ZodType<Labels, z.ZodTypeDef, unknown> = z.record(z.string()).superRefine((labels, ctx) => {
  for (const [key, value] of Object.entries(labels)) {
    addReasons(ctx, [key], checkQualifiedName(key).map((m) => `key ${m}`), key);
    addReasons(ctx, [key], checkLabelValue(value), value);
  }
});

const ANNOTATIONS = z.record(z.string()).superRefine((annotations, ctx) => {
  // The API server lower-cases annotation keys before checking them (ValidateAnnotations).
  for (const key of Object.keys(annotations)) addReasons(ctx, [key], checkQualifiedName(key.toLowerCase()).map((m) => `key ${m}`), key);
});

const REQUIREMENT = z
  .object({
    key: z.string({ required_error: 'is required' }),
    operator: enumOf(SELECTOR_OPERATORS as readonly ['In', 'NotIn', 'Exists', 'DoesNotExist']),
    values: z.array(z.string()).nullish(),
  })
  .strict()
  .superRefine((req, ctx) => {
    addReasons(ctx, ['key'], checkQualifiedName(req.key), req.key);
    const values = req.values ?? [];
    if ((req.operator === 'In' || req.operator === 'NotIn') && values.length === 0) {
      addReasons(ctx, ['values'], [`must be specified when \`operator\` is 'In' or 'NotIn'`]);
    }
    if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && values.length > 0) {
      addReasons(ctx, ['values'], [`may not be specified when \`operator\` is 'Exists' or 'DoesNotExist'`]);
    }
    values.forEach((v, i) => addReasons(ctx, ['values', i], checkLabelValue(v), v));
  })
  .transform((req) => ({ key: req.key, operator: req.operator, values: req.values ?? [] }));

/** metav1.LabelSelector; absent lists become empty, so {} and null both mean "everything". */
export const LABEL_SELECTOR: z.ZodType<LabelSelector, z.ZodTypeDef, unknown> = z
  .object({
    matchLabels: LABELS.nullish(),
    matchExpressions: z.array(REQUIREMENT).nullish(),
  })
  .strict()
  .transform((s) => ({ matchLabels: s.matchLabels ?? {}, matchExpressions: s.matchExpressions ?? [] }));

const NAME = z.string({ required_error: 'is required', invalid_type_error: 'must be a string' });

/** Metadata of a cluster-scoped kind; a namespace is refused as the API server refuses it. */
export function clusterMeta(checkName: NameCheck): z.ZodType<ClusterObjectMeta, z.ZodTypeDef, unknown> {
  return z
    .object({
      name: NAME,
      namespace: z.unknown().optional(),
      labels: LABELS.nullish(),
      annotations: ANNOTATIONS.nullish(),
    })
    .superRefine((m, ctx) => {
      addReasons(ctx, ['name'], m.name === '' ? ['is required'] : checkName(m.name), m.name || undefined);
      if (m.namespace !== undefined && m.namespace !== '') addReasons(ctx, ['namespace'], ['not allowed on this type']);
    })
    .transform((m) => ({ name: m.name, labels: m.labels ?? {}, annotations: m.annotations ?? {} }));
}

/** Metadata of a namespaced kind; the namespace defaults to "default", as kubectl's does. */
export function namespacedMeta(checkName: NameCheck): z.ZodType<ObjectMeta, z.ZodTypeDef, unknown> {
  return z
    .object({
      name: NAME,
      namespace: z.string().nullish(),
      labels: LABELS.nullish(),
      annotations: ANNOTATIONS.nullish(),
    })
    .superRefine((m, ctx) => {
      addReasons(ctx, ['name'], m.name === '' ? ['is required'] : checkName(m.name), m.name || undefined);
      if (m.namespace) addReasons(ctx, ['namespace'], checkDns1123Label(m.namespace), m.namespace);
    })
    .transform((m) => ({ name: m.name, namespace: m.namespace || 'default', labels: m.labels ?? {}, annotations: m.annotations ?? {} }));
}
