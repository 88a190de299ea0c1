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
 *
 * Decoding is strict (schema-fields.ts): an unknown field anywhere is refused with its path, as
 * `kubectl apply --validate=strict` does. Input is bounded as the API server bounds it: each
 * object (document or List item) at most 3 MiB as JSON, which is the body kubectl would send for
 * it (the API server's MaxRequestBodyBytes), and its annotations at most 256 KiB in total. One
 * apply holds at most 10,000 objects (MAX_OBJECTS_PER_APPLY): weft stores an apply in one
 * transaction and every agent then holds every object, so an apply is bounded by what a whole
 * cluster is sized for (Kubernetes' scalability thresholds name 10,000 namespaces and 10,000
 * Services per cluster); a file of 141,628 namespaces once cost every agent 350 MB. Documents are
 * parsed one at a time, and parsing stops at the first object past the bound.
 */

import { Composer, LineCounter, Parser } from 'yaml';
import type { z } from 'zod';
import { API_VERSIONS, KIND_INFO, SUPPORTED_KINDS, type K8sKind, type K8sObject } from './kinds.js';
import { quoteValue, utf8Length } from './schema-common.js';
import { CLUSTER_SCOPED_KINDS } from './objects.js';

/** The API server's request body limit, applied to each object as JSON (kubectl sends one request per object). */
export const MAX_OBJECT_BYTES = 3 * 1024 * 1024;

/** weft's bound on the objects of one apply (documents plus List items); see the header. */
export const MAX_OBJECTS_PER_APPLY = 10_000;

export interface ManifestLimits {
  /** At most this many objects; the default is MAX_OBJECTS_PER_APPLY. */
  maxObjects?: number;
}

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  /** One line per problem, each already prefixed with its document. */
  readonly problems: readonly string[];

  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

/** Formats a zod path as Kubernetes does: `spec.ingress[0].from[1]`, `metadata.labels[app.kubernetes.io/name]`. */
export function formatFieldPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const raw of path) {
    // A key is user input: a huge one is shown cut short, never whole.
    const seg = typeof raw === 'string' && raw.length > 100 ? `${raw.slice(0, 90)}… (${raw.length} characters)` : raw;
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
  if (name.length > 253) return `${kind} ${quoteValue(name)}`;
  if (CLUSTER_SCOPED_KINDS.includes(kind)) return `${kind} ${name}`;
  const ns = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default';
  return `${kind} ${ns}/${name}`;
}

/** Validates one object; returns it, or its problems (without the document prefix). */
function parseObject(raw: unknown): { object: K8sObject } | { problems: string[] } {
  if (!isRecord(raw)) return { problems: ['must be an object with apiVersion, kind and metadata'] };
  const { kind, apiVersion } = raw;
  if (typeof kind !== 'string' || kind === '') return { problems: ['kind: is required'] };
  if (!isSupportedKind(kind)) {
    return { problems: [`unknown kind ${quoteValue(kind)} (supported: ${SUPPORTED_KINDS.join(', ')})`] };
  }
  if (typeof apiVersion !== 'string' || apiVersion === '') return { problems: ['apiVersion: is required'] };
  if (apiVersion !== API_VERSIONS[kind]) {
    return {
      problems: [`apiVersion: ${quoteValue(apiVersion)} is not valid for ${kind} (want ${API_VERSIONS[kind]})`],
    };
  }
  // Measured before decoding, so an oversized object costs no schema work and is never echoed.
  const bytes = utf8Length(JSON.stringify(raw));
  if (bytes > MAX_OBJECT_BYTES) {
    return {
      problems: [`too large: ${bytes} bytes as JSON; the limit is ${MAX_OBJECT_BYTES} bytes (3 MiB) per object`],
    };
  }
  const parsed = (KIND_INFO[kind].schema as z.ZodType<K8sObject, z.ZodTypeDef, unknown>).safeParse(raw);
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
export function parseManifest(text: string, limits: ManifestLimits = {}): K8sObject[] {
  return parseManifestLocated(text, limits).map((l) => l.object);
}

function tooMany(where: string, max: number): string {
  return `${where}: too many objects: at most ${max} per apply (split the manifest)`;
}

/** An object with where it came from in the manifest, e.g. "document 2 (Pod x/a)". */
export interface LocatedObject {
  object: K8sObject;
  where: string;
}

/** parseManifest, keeping each object's place so later checks (apply) can name it the same way. */
export function parseManifestLocated(text: string, limits: ManifestLimits = {}): LocatedObject[] {
  const maxObjects = limits.maxObjects ?? MAX_OBJECTS_PER_APPLY;
  const objects: LocatedObject[] = [];
  const problems: string[] = [];
  // Parsed one document at a time (what parseAllDocuments does in one go), so a huge file stops
  // at the bound instead of being parsed whole first.
  const lines = new LineCounter();
  const documents = new Composer().compose(new Parser(lines.addNewLine).parse(text));
  let index = 0;
  let count = 0;

  for (const doc of documents) {
    index += 1;
    const where = `document ${index}`;
    const syntax = doc.errors[0];
    if (syntax) {
      const line = lines.linePos(syntax.pos[0]).line;
      problems.push(`${where}: YAML syntax error at line ${line}: ${yamlReason(syntax.message)}`);
      continue;
    }
    const raw: unknown = doc.toJS({ maxAliasCount: 100 });
    if (raw === null || raw === undefined) continue;

    if (isRecord(raw) && typeof raw.kind === 'string' && LIST_KINDS.has(raw.kind)) {
      if (!Array.isArray(raw.items)) {
        problems.push(`${where} (${raw.kind}): items: must be a list`);
        continue;
      }
      if (count + raw.items.length > maxObjects) {
        problems.push(tooMany(`${where}, items[${maxObjects - count}]`, maxObjects));
        break;
      }
      count += raw.items.length;
      raw.items.forEach((item: unknown, i) => {
        const result = parseObject(item);
        const what = isRecord(item) ? describeRaw(item) : undefined;
        const prefix = `${where}, items[${i}]${what ? ` (${what})` : ''}`;
        if ('object' in result) objects.push({ object: result.object, where: prefix });
        else for (const p of result.problems) problems.push(`${prefix}: ${p}`);
      });
      continue;
    }

    if (count + 1 > maxObjects) {
      problems.push(tooMany(where, maxObjects));
      break;
    }
    count += 1;
    const result = parseObject(raw);
    const what = isRecord(raw) ? describeRaw(raw) : undefined;
    const prefix = `${where}${what ? ` (${what})` : ''}`;
    if ('object' in result) objects.push({ object: result.object, where: prefix });
    else for (const p of result.problems) problems.push(`${prefix}: ${p}`);
  }

  if (problems.length > 0) throw new ManifestError(problems);
  return objects;
}
