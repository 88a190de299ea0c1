/**
 * Zod schemas for the pieces every kind shares: metadata, labels, label selectors, protocols and
 * port numbers. Structure (types, required fields, enums) is zod's job; the API server's string
 * rules come from names.ts and are attached as refinements, so that one parse yields every
 * problem with its field path, the way `kubectl apply` reports a rejected object.
 *
 * Every object level is decoded strictly through fieldsOf(): a field is acted on (in the zod
 * shape), kept as written, left to the store, refused with a reason, or unknown and refused with
 * its path, by the rules of schema-fields.ts. The check runs as zod's catchall, so an unknown
 * field is reported together with every other problem of the same object, each at its own path.
 */

import { z } from 'zod';
import type { ClusterObjectMeta, LabelSelector, Labels, ObjectMeta, Protocol } from './objects.js';
import { PROTOCOLS, SELECTOR_OPERATORS } from './objects.js';
import { checkDns1123Label, checkLabelValue, checkPortName, checkPortNumber, checkQualifiedName } from './names.js';
import { isJsonValue, METADATA, MODELLED, type FieldRules, type JsonValue, type Kept } from './schema-fields.js';

export type NameCheck = (value: string) => string[];

/** A value as messages quote it: JSON, cut short so that a huge value is never echoed back whole. */
export function quoteValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= 100 ? text : `${text.slice(0, 90)}… (${text.length} characters)`;
}

/** Adds one issue per reason at the given path (relative to the refined schema). */
export function addReasons(
  ctx: z.RefinementCtx,
  path: Array<string | number>,
  reasons: string[],
  value?: string | number,
): void {
  for (const reason of reasons) {
    const shown = value === undefined ? '' : `${quoteValue(value)}: `;
    ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: `${shown}${reason}` });
  }
}

/** The number of bytes of a string in UTF-8 (what Go's len() counts in the API server's limits). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4; // a surrogate pair: one code point outside the BMP
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Optimal string alignment distance (edits, with a swap of two neighbours as one), for "did you mean". */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The known field nearest to a misspelled one (case aside, at most two edits and a third of its length), if any. */
export function nearestField(field: string, known: readonly string[]): string | undefined {
  if (field.length > 64) return undefined;
  const wanted = field.toLowerCase();
  const limit = Math.max(1, Math.min(2, Math.floor(field.length / 3)));
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(wanted, name.toLowerCase());
    if (distance <= limit && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

const has = (record: Readonly<Record<string, unknown>> | undefined, key: string): boolean =>
  record !== undefined && Object.prototype.hasOwnProperty.call(record, key);

/**
 * A strictly decoded object level: the shape holds the fields weft acts on; every other key is
 * judged by the rules (kept as written, left to the store, refused with a reason, or unknown).
 * Each refusal is an issue at the field's own path, so `spec.containers[0].ports[0].protcol`
 * is reported as such, alongside every other problem of the object.
 */
export function fieldsOf<T extends z.ZodRawShape>(shape: T, rules: FieldRules = MODELLED) {
  const modelled = Object.keys(shape);
  const known = [...modelled, ...rules.kept, ...(rules.serverSet ?? []), ...Object.keys(rules.refused ?? {})];
  const extra = z.unknown().superRefine((value, ctx) => {
    const field = String(ctx.path[ctx.path.length - 1]);
    if (rules.kept.includes(field)) {
      if (!isJsonValue(value))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: 'must be JSON data (null, a boolean, a finite number, a string, a list or a map)',
        });
      return;
    }
    if (rules.serverSet?.includes(field)) return;
    if (has(rules.refused, field)) {
      const refusal = rules.refused![field]!;
      // null is "not set", as the API server's decoding has it.
      if (value === null || value === undefined || refusal.accepts?.(value)) return;
      const shown = refusal.accepts ? `${quoteValue(value)}: ` : '';
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${shown}${refusal.reason}` });
      return;
    }
    const near = nearestField(field, known);
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `unknown field${near === undefined ? '' : ` (did you mean ${JSON.stringify(near)}?)`}`,
    });
  });
  return z.object(shape).catchall(extra);
}

/** The kept fields of a decoded level (and refused fields whose accepted value is kept), in rule order; null means unset. */
export function keptOf<R extends FieldRules>(decoded: Readonly<Record<string, unknown>>, rules: R): Kept<R> {
  const out: Record<string, JsonValue> = {};
  const names = [
    ...rules.kept,
    ...Object.entries(rules.refused ?? {})
      .filter(([, r]) => r.accepts !== undefined)
      .map(([name]) => name),
  ];
  for (const name of names) {
    const value = decoded[name];
    if (value !== undefined && value !== null && has(decoded, name) && isJsonValue(value)) out[name] = value;
  }
  return out as Kept<R>;
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

export const PROTOCOL: z.ZodType<Protocol, z.ZodTypeDef, unknown> = enumOf(
  PROTOCOLS as readonly [Protocol, ...Protocol[]],
).default('TCP');

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
    addReasons(
      ctx,
      [key],
      checkQualifiedName(key).map((m) => `key ${m}`),
      key,
    );
    addReasons(ctx, [key], checkLabelValue(value), value);
  }
});

/** The API server's TotalAnnotationSizeLimitB: keys and values of one object's annotations, in bytes. */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;

const ANNOTATIONS = z.record(z.string()).superRefine((annotations, ctx) => {
  // The API server lower-cases annotation keys before checking them (ValidateAnnotations).
  for (const key of Object.keys(annotations))
    addReasons(
      ctx,
      [key],
      checkQualifiedName(key.toLowerCase()).map((m) => `key ${m}`),
      key,
    );
  let total = 0;
  for (const [key, value] of Object.entries(annotations)) total += utf8Length(key) + utf8Length(value);
  if (total > MAX_ANNOTATIONS_BYTES) {
    addReasons(
      ctx,
      [],
      [`too long: must have at most ${MAX_ANNOTATIONS_BYTES} bytes in total (256 KiB), has ${total}`],
    );
  }
});

const REQUIREMENT = fieldsOf({
  key: z.string({ required_error: 'is required' }),
  operator: enumOf(SELECTOR_OPERATORS as readonly ['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: z.array(z.string()).nullish(),
})
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
export const LABEL_SELECTOR: z.ZodType<LabelSelector, z.ZodTypeDef, unknown> = fieldsOf({
  matchLabels: LABELS.nullish(),
  matchExpressions: z.array(REQUIREMENT).nullish(),
}).transform((s) => ({ matchLabels: s.matchLabels ?? {}, matchExpressions: s.matchExpressions ?? [] }));

const NAME = z.string({ required_error: 'is required', invalid_type_error: 'must be a string' });

/** Metadata of a cluster-scoped kind; a namespace is refused as the API server refuses it. */
export function clusterMeta(checkName: NameCheck): z.ZodType<ClusterObjectMeta, z.ZodTypeDef, unknown> {
  return fieldsOf(
    {
      name: NAME,
      namespace: z.unknown().optional(),
      labels: LABELS.nullish(),
      annotations: ANNOTATIONS.nullish(),
    },
    METADATA,
  )
    .superRefine((m, ctx) => {
      addReasons(ctx, ['name'], m.name === '' ? ['is required'] : checkName(m.name), m.name || undefined);
      if (m.namespace !== undefined && m.namespace !== '') addReasons(ctx, ['namespace'], ['not allowed on this type']);
    })
    .transform((m) => ({
      name: m.name,
      labels: m.labels ?? {},
      annotations: m.annotations ?? {},
      ...keptOf(m, METADATA),
    }));
}

/** Metadata of a namespaced kind; the namespace defaults to "default", as kubectl's does. */
export function namespacedMeta(checkName: NameCheck): z.ZodType<ObjectMeta, z.ZodTypeDef, unknown> {
  return fieldsOf(
    {
      name: NAME,
      namespace: z.string().nullish(),
      labels: LABELS.nullish(),
      annotations: ANNOTATIONS.nullish(),
    },
    METADATA,
  )
    .superRefine((m, ctx) => {
      addReasons(ctx, ['name'], m.name === '' ? ['is required'] : checkName(m.name), m.name || undefined);
      if (m.namespace) addReasons(ctx, ['namespace'], checkDns1123Label(m.namespace), m.namespace);
    })
    .transform((m) => ({
      name: m.name,
      namespace: m.namespace || 'default',
      labels: m.labels ?? {},
      annotations: m.annotations ?? {},
      ...keptOf(m, METADATA),
    }));
}
