/**
 * `kubectl label`-style changes to an object's labels: `key=value` sets, `key-` removes, and an
 * existing key is only replaced with --overwrite. Kept apart from selector.ts (matching) because
 * this is editing, used by `weft label` and the lab; the rules are kubectl's (kubectl/pkg/cmd/label)
 * so users' habits carry over, with the error text naming the key.
 */

import type { Labels } from './objects.js';
import { checkLabelValue, checkQualifiedName } from './names.js';

export class LabelChangeError extends Error {
  override readonly name = 'LabelChangeError';
}

export interface LabelChanges {
  /** Keys to set, in argument order. */
  set: Labels;
  /** Keys to remove. */
  remove: string[];
}

/** Parses `key=value` and `key-` arguments; invalid keys or values, or a key both set and removed, are errors. */
export function parseLabelArgs(args: readonly string[]): LabelChanges {
  const set: Labels = {};
  const remove: string[] = [];
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq >= 0) {
      const key = arg.slice(0, eq);
      const value = arg.slice(eq + 1);
      const keyErrs = checkQualifiedName(key);
      if (keyErrs.length > 0)
        throw new LabelChangeError(`invalid label ${JSON.stringify(arg)}: key ${keyErrs.join('; ')}`);
      const valueErrs = checkLabelValue(value);
      if (valueErrs.length > 0)
        throw new LabelChangeError(`invalid label ${JSON.stringify(arg)}: value ${valueErrs.join('; ')}`);
      if (Object.prototype.hasOwnProperty.call(set, key) && set[key] !== value) {
        throw new LabelChangeError(`label ${JSON.stringify(key)} is given twice with different values`);
      }
      set[key] = value;
    } else if (arg.endsWith('-') && arg.length > 1) {
      const key = arg.slice(0, -1);
      const keyErrs = checkQualifiedName(key);
      if (keyErrs.length > 0)
        throw new LabelChangeError(`invalid label removal ${JSON.stringify(arg)}: key ${keyErrs.join('; ')}`);
      if (!remove.includes(key)) remove.push(key);
    } else {
      throw new LabelChangeError(
        `invalid label argument ${JSON.stringify(arg)}: want key=value to set or key- to remove`,
      );
    }
  }
  for (const key of remove) {
    if (Object.prototype.hasOwnProperty.call(set, key)) {
      throw new LabelChangeError(
        `label ${JSON.stringify(key)}: can not both modify and remove a label in the same command`,
      );
    }
  }
  return { set, remove };
}

export interface LabelChangeResult {
  labels: Labels;
  /** Keys asked to be removed that were not there (kubectl reports these, but does not fail). */
  notFound: string[];
}

/**
 * Applies changes to a copy of current. Without overwrite, setting a key that already exists is an
 * error even when the value is the same, as kubectl's validateNoOverwrites has it.
 */
export function applyLabelChanges(
  current: Readonly<Labels>,
  changes: LabelChanges,
  overwrite: boolean,
): LabelChangeResult {
  const labels: Labels = { ...current };
  if (!overwrite) {
    for (const key of Object.keys(changes.set)) {
      if (Object.prototype.hasOwnProperty.call(current, key)) {
        throw new LabelChangeError(
          `label ${JSON.stringify(key)} already has a value (${current[key]}); use --overwrite`,
        );
      }
    }
  }
  Object.assign(labels, changes.set);
  const notFound: string[] = [];
  for (const key of changes.remove) {
    if (Object.prototype.hasOwnProperty.call(labels, key)) delete labels[key];
    else notFound.push(key);
  }
  return { labels, notFound };
}
