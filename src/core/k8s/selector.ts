/**
 * Label selector matching with Kubernetes' exact semantics (apimachinery labels.Selector built by
 * metav1.LabelSelectorAsSelector): every matchLabels pair and every matchExpressions requirement
 * must hold. NetworkPolicy evaluation (`weft reach`) and Service endpoint selection both rest on
 * this one function, so its corner cases are the API's, not ours:
 *   - the empty selector {} matches every label set (a policy's podSelector: {} selects all pods);
 *   - In needs the key present with one of the values; NotIn matches when the key is absent;
 *   - Exists / DoesNotExist look only at the key.
 * A null selector (no selector at all) matches nothing; callers decide where that applies.
 */

import type { LabelSelector, LabelSelectorRequirement, Labels } from './objects.js';
import { checkLabelValue, checkQualifiedName } from './names.js';

function requirementMatches(req: LabelSelectorRequirement, labels: Labels): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, req.key);
  const value = has ? labels[req.key] : undefined;
  switch (req.operator) {
    case 'In':
      return value !== undefined && req.values.includes(value);
    case 'NotIn':
      return value === undefined || !req.values.includes(value);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
  }
}

/** True when labels satisfy every matchLabels pair and every matchExpressions requirement. */
export function labelSelectorMatches(selector: LabelSelector | null | undefined, labels: Labels): boolean {
  if (!selector) return false;
  for (const [key, want] of Object.entries(selector.matchLabels)) {
    if (!Object.prototype.hasOwnProperty.call(labels, key) || labels[key] !== want) return false;
  }
  return selector.matchExpressions.every((req) => requirementMatches(req, labels));
}

/** True when the selector is {} (selects everything). */
export function isEmptySelector(selector: LabelSelector): boolean {
  return Object.keys(selector.matchLabels).length === 0 && selector.matchExpressions.length === 0;
}

/** kubectl's text form: "app=web,tier in (a,b),!canary"; "<none>"-free, empty for {}. */
export function formatLabelSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const req of selector.matchExpressions) {
    const values = [...req.values].sort().join(',');
    if (req.operator === 'In') parts.push(`${req.key} in (${values})`);
    else if (req.operator === 'NotIn') parts.push(`${req.key} notin (${values})`);
    else if (req.operator === 'Exists') parts.push(req.key);
    else parts.push(`!${req.key}`);
  }
  return parts.join(',');
}

/**
 * kubectl's -l text ("app=web,tier in (a,b),!canary,env!=prod"), the inverse of
 * formatLabelSelector: `k=v` and `k==v` (matchLabels), `k!=v` (NotIn), `k in (…)`,
 * `k notin (…)`, `k` (Exists), `!k` (DoesNotExist). Throws naming the flag, the requirement and
 * the reason; "" is the empty selector (everything).
 */
export function parseLabelSelectorText(text: string, flag = '-l'): LabelSelector {
  const out: LabelSelector = { matchLabels: {}, matchExpressions: [] };
  const fail = (part: string, why: string): never => {
    throw new Error(`${flag} "${text}": "${part}": ${why}`);
  };
  // Commas split requirements, except inside the parentheses of a set.
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (current.trim() !== '' || parts.length > 0) parts.push(current);
  const key = (part: string, k: string) => {
    const problems = checkQualifiedName(k);
    if (problems.length > 0) fail(part, `key ${JSON.stringify(k)}: ${problems.join('; ')}`);
    return k;
  };
  const value = (part: string, v: string) => {
    const problems = checkLabelValue(v);
    if (problems.length > 0) fail(part, `value ${JSON.stringify(v)}: ${problems.join('; ')}`);
    return v;
  };
  for (const raw of parts) {
    const part = raw.trim();
    if (part === '') fail(raw, 'an empty requirement');
    let m: RegExpExecArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part))) {
      const values = m[3]!.split(',').map((v) => value(part, v.trim()));
      out.matchExpressions.push({ key: key(part, m[1]!), operator: m[2] === 'in' ? 'In' : 'NotIn', values });
    } else if ((m = /^([^=!\s]+)\s*!=\s*(\S*)$/.exec(part))) {
      out.matchExpressions.push({ key: key(part, m[1]!), operator: 'NotIn', values: [value(part, m[2]!)] });
    } else if ((m = /^([^=!\s]+)\s*==?\s*(\S*)$/.exec(part))) {
      out.matchLabels[key(part, m[1]!)] = value(part, m[2]!);
    } else if ((m = /^!\s*([^=!\s]+)$/.exec(part))) {
      out.matchExpressions.push({ key: key(part, m[1]!), operator: 'DoesNotExist', values: [] });
    } else if (/^[^=!\s()]+$/.test(part)) {
      out.matchExpressions.push({ key: key(part, part), operator: 'Exists', values: [] });
    } else fail(part, 'not a requirement (k=v, k!=v, k in (a,b), k notin (a,b), k or !k)');
  }
  return out;
}
