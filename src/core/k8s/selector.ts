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
