/**
 * Tests for kubectl-label style changes: argument parsing and the --overwrite rule.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyLabelChanges, LabelChangeError, parseLabelArgs } from './labels.js';

test('parseLabelArgs: sets and removals', () => {
  assert.deepEqual(parseLabelArgs(['app=web', 'example.com/tier=fe', 'old-', 'empty=']), {
    set: { app: 'web', 'example.com/tier': 'fe', empty: '' },
    remove: ['old'],
  });
});

const badArgs: Array<[string, string[], string]> = [
  ['no = or -', ['app'], 'invalid label argument "app": want key=value to set or key- to remove'],
  ['bad key', ['-app=x'], 'invalid label "-app=x": key name part must consist'],
  ['bad value', ['app=a b'], 'invalid label "app=a b": value a valid label'],
  ['empty key', ['=x'], 'invalid label "=x": key name part must be non-empty'],
  ['set and remove', ['app=x', 'app-'], 'label "app": can not both modify and remove a label in the same command'],
  ['two values', ['app=x', 'app=y'], 'label "app" is given twice with different values'],
  ['lone dash', ['-'], 'invalid label argument "-"'],
];
for (const [name, args, want] of badArgs) {
  test(`parseLabelArgs rejects ${name}`, () => {
    assert.throws(
      () => parseLabelArgs(args),
      (e: unknown) => e instanceof LabelChangeError && e.message.startsWith(want),
    );
  });
}

const applyCases: Array<
  [string, Record<string, string>, string[], boolean, Record<string, string> | string, string[]?]
> = [
  ['adds a new label', { a: '1' }, ['b=2'], false, { a: '1', b: '2' }],
  [
    'refuses to replace without --overwrite',
    { app: 'web' },
    ['app=db'],
    false,
    'label "app" already has a value (web); use --overwrite',
  ],
  [
    'refuses the same value without --overwrite, as kubectl does',
    { app: 'web' },
    ['app=web'],
    false,
    'label "app" already has a value (web); use --overwrite',
  ],
  ['replaces with --overwrite', { app: 'web' }, ['app=db'], true, { app: 'db' }],
  ['removes a label', { app: 'web', tier: 'fe' }, ['tier-'], false, { app: 'web' }],
  ['removing an absent label is reported, not an error', { app: 'web' }, ['tier-'], false, { app: 'web' }, ['tier']],
];
for (const [name, current, args, overwrite, want, notFound] of applyCases) {
  test(`applyLabelChanges ${name}`, () => {
    const changes = parseLabelArgs(args);
    if (typeof want === 'string') {
      assert.throws(
        () => applyLabelChanges(current, changes, overwrite),
        (e: unknown) => e instanceof LabelChangeError && e.message === want,
      );
      return;
    }
    const before = { ...current };
    const result = applyLabelChanges(current, changes, overwrite);
    assert.deepEqual(result.labels, want);
    assert.deepEqual(result.notFound, notFound ?? []);
    assert.deepEqual(current, before, 'current labels are not modified');
  });
}

test('property: with --overwrite, every set label ends up with its value and removed ones are gone', () => {
  const key = fc.stringMatching(/^[a-z][a-z0-9]{0,4}$/);
  const labels = fc.dictionary(key, fc.stringMatching(/^[a-z0-9]{0,3}$/), { maxKeys: 5 });
  fc.assert(
    fc.property(labels, labels, fc.uniqueArray(key, { maxLength: 3 }), (current, set, removeAll) => {
      const remove = removeAll.filter((k) => !(k in set));
      const { labels: out } = applyLabelChanges(current, { set, remove }, true);
      return Object.entries(set).every(([k, v]) => out[k] === v) && remove.every((k) => !(k in out));
    }),
  );
});
