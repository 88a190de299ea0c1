/**
 * Turns the text of a manifest — one or many YAML documents separated by `---`, a JSON object,
 * or a `kind: List` (YAML or JSON) — into typed, validated, defaulted Kubernetes objects, the way
 * `kubectl apply -f` followed by the API server would accept or refuse it.
 *
 * Every problem is reported, not just the first, each naming the document (1-based, counting
 * `---` separated documents in the text), the object when its kind and name are known, the field
 * path and the reason: `document 2 (Pod x/a): spec.containers[0].ports[1].containerPort: duplicate
 * port 80/TCP`. A manifest is applied whole or not at all, so one bad document fails the parse.
 *
 * JSON is parsed by the YAML parser (YAML 1.2 is a superset of JSON), which gives both the same
 * line numbers in syntax errors and refuses duplicate keys, as the API server's strict decoding does.
 */

import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { API_VERSIONS, SUPPORTED_KINDS, type K8sKind, type K8sObject } from './kinds.js';
import { NETWORK_POLICY } from './schema-policy.js';
import { ENDPOINT_SLICE, NAMESPACE, POD, SERVICE } from './schema-workloads.js';

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  /** One line per problem, each already prefixed with its document. */
  readonly problems: readonly string[];

  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

const SCHEMAS: Readonly<Record<K8sKind, z.ZodType<K8sObject, z.ZodTypeDef, unknown>>> = {
  Namespace: NAMESPACE,
  Pod: POD,
  NetworkPolicy: NETWORK_POLICY,
  Service: SERVICE,
  EndpointSlice: ENDPOINT_SLICE,
};

/** Formats a zod path as Kubernetes does: `spec.ingress[0].from[1]`, `metadata.labels[app.kubernetes.io/name]`. */
export function formatFieldPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${seg}]`;
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSupportedKind(kind: string): kind is K8sKind {
  return (SUPPORTED_KINDS as string[]).includes(kind);
}

/** "Pod x/a" when a supported kind (and name) can be read from the raw document, else undefined. */
function describeRaw(doc: Record<string, unknown>): string | undefined {
  const kind = typeof doc.kind === 'string' ? doc.kind : undefined;
  const meta = isRecord(doc.metadata) ? doc.metadata : {};
  const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : undefined;
  if (!kind || !isSupportedKind(kind)) return undefined;
  if (!name) return kind;
  if (kind === 'Namespace') return `${kind} ${name}`;
  const ns = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default';
  return `${kind} ${ns}/${name}`;
}

/** Validates one object; returns it, or its problems (without the document prefix). */
function parseObject(raw: unknown): { object: K8sObject } | { problems: string[] } {
  if (!isRecord(raw)) return { problems: ['must be an object with apiVersion, kind and metadata'] };
  const { kind, apiVersion } = raw;
  if (typeof kind !== 'string' || kind === '') return { problems: ['kind: is required'] };
  if (!isSupportedKind(kind)) {
    return { problems: [`unknown kind ${JSON.stringify(kind)} (supported: ${SUPPORTED_KINDS.join(', ')})`] };
  }
  if (typeof apiVersion !== 'string' || apiVersion === '') return { problems: ['apiVersion: is required'] };
  if (apiVersion !== API_VERSIONS[kind]) {
    return { problems: [`apiVersion: ${JSON.stringify(apiVersion)} is not valid for ${kind} (want ${API_VERSIONS[kind]})`] };
  }
  const parsed = SCHEMAS[kind].safeParse(raw);
  if (parsed.success) return { object: parsed.data };
  return { problems: parsed.error.issues.map((i) => `${formatFieldPath(i.path) || '(object)'}: ${i.message}`) };
}

const LIST_KINDS = new Set(['List', ...SUPPORTED_KINDS.map((k) => `${k}List`)]);

/** The first line of a YAML parser message, without its own " at line N, column M:" suffix. */
function yamlReason(message: string): string {
  const first = message.split('\n')[0] ?? message;
  return first.replace(/ at line \d+, column \d+:?$/, '');
}

/**
 * Parses a manifest into objects in document order (List items in place of their List).
 * Empty documents (a trailing `---`, comments only) are skipped, as kubectl skips them.
 * Throws ManifestError listing every problem found.
 */
export function parseManifest(text: string): K8sObject[] {
  return parseManifestLocated(text).map((l) => l.object);
}

/** An object with where it came from in the manifest, e.g. "document 2 (Pod x/a)". */
export interface LocatedObject {
  object: K8sObject;
  where: string;
}

/** parseManifest, keeping each object's place so later checks (apply) can name it the same way. */
export function parseManifestLocated(text: string): LocatedObject[] {
  const objects: LocatedObject[] = [];
  const problems: string[] = [];
  const docs = parseAllDocuments(text);
  // parseAllDocuments returns an EmptyStream (not an array) for text with no documents at all.
  if (!Array.isArray(docs)) return objects;

  docs.forEach((doc, index) => {
    const where = `document ${index + 1}`;
    const syntax = doc.errors[0];
    if (syntax) {
      const line = syntax.linePos?.[0]?.line;
      problems.push(`${where}: YAML syntax error${line === undefined ? '' : ` at line ${line}`}: ${yamlReason(syntax.message)}`);
      return;
    }
    const raw: unknown = doc.toJS({ maxAliasCount: 100 });
    if (raw === null || raw === undefined) return;

    if (isRecord(raw) && typeof raw.kind === 'string' && LIST_KINDS.has(raw.kind)) {
      if (!Array.isArray(raw.items)) {
        problems.push(`${where} (${raw.kind}): items: must be a list`);
        return;
      }
      raw.items.forEach((item: unknown, i) => {
        const result = parseObject(item);
        const what = isRecord(item) ? describeRaw(item) : undefined;
        const prefix = `${where}, items[${i}]${what ? ` (${what})` : ''}`;
        if ('object' in result) objects.push({ object: result.object, where: prefix });
        else for (const p of result.problems) problems.push(`${prefix}: ${p}`);
      });
      return;
    }

    const result = parseObject(raw);
    const what = isRecord(raw) ? describeRaw(raw) : undefined;
    const prefix = `${where}${what ? ` (${what})` : ''}`;
    if ('object' in result) objects.push({ object: result.object, where: prefix });
    else for (const p of result.problems) problems.push(`${prefix}: ${p}`);
  });

  if (problems.length > 0) throw new ManifestError(problems);
  return objects;
}
