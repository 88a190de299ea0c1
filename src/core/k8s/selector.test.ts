/**
 * Tests for labelSelectorMatches: a table of the Kubernetes corner cases, then fast-check
 * properties that must hold for any labels (the laws `weft reach` relies on).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { LabelSelector, LabelSelectorRequirement, Labels } from './objects.js';
import { formatLabelSelector, isEmptySelector, labelSelectorMatches, parseLabelSelectorText } from './selector.js';

const S = (matchLabels: Labels = {}, matchExpressions: LabelSelectorRequirement[] = []): LabelSelector => ({
  matchLabels,
  matchExpressions,
});
const R = (
  key: string,
  operator: LabelSelectorRequirement['operator'],
  values: string[] = [],
): LabelSelectorRequirement => ({ key, operator, values });

const cases: Array<[string, LabelSelector | null, Labels, boolean]> = [
  ['empty selector matches no labels', S(), {}, true],
  ['empty selector matches any labels', S(), { app: 'web' }, true],
  ['null selector matches nothing', null, { app: 'web' }, false],
  ['matchLabels equal', S({ app: 'web' }), { app: 'web', tier: 'fe' }, true],
  ['matchLabels different value', S({ app: 'web' }), { app: 'db' }, false],
  ['matchLabels key absent', S({ app: 'web' }), {}, false],
  ['matchLabels empty value needs the key', S({ app: '' }), {}, false],
  ['matchLabels empty value matches empty', S({ app: '' }), { app: '' }, true],
  ['In matches one of the values', S({}, [R('env', 'In', ['dev', 'prod'])]), { env: 'prod' }, true],
  ['In fails on another value', S({}, [R('env', 'In', ['dev'])]), { env: 'prod' }, false],
  ['In fails when the key is absent', S({}, [R('env', 'In', ['dev'])]), {}, false],
  ['NotIn matches when the key is absent', S({}, [R('env', 'NotIn', ['dev'])]), {}, true],
  ['NotIn matches another value', S({}, [R('env', 'NotIn', ['dev'])]), { env: 'prod' }, true],
  ['NotIn fails on a listed value', S({}, [R('env', 'NotIn', ['dev'])]), { env: 'dev' }, false],
  ['Exists with any value', S({}, [R('env', 'Exists')]), { env: '' }, true],
  ['Exists fails when absent', S({}, [R('env', 'Exists')]), { app: 'x' }, false],
  ['DoesNotExist when absent', S({}, [R('env', 'DoesNotExist')]), { app: 'x' }, true],
  ['DoesNotExist fails when present', S({}, [R('env', 'DoesNotExist')]), { env: 'x' }, false],
  [
    'matchLabels AND expressions, both hold',
    S({ app: 'web' }, [R('env', 'In', ['prod'])]),
    { app: 'web', env: 'prod' },
    true,
  ],
  [
    'matchLabels AND expressions, one fails',
    S({ app: 'web' }, [R('env', 'In', ['prod'])]),
    { app: 'web', env: 'dev' },
    false,
  ],
  ['all expressions must hold', S({}, [R('a', 'Exists'), R('b', 'DoesNotExist')]), { a: '1', b: '2' }, false],
  ['inherited object keys are not labels', S({}, [R('constructor', 'Exists')]), {}, false],
];

for (const [name, selector, labels, want] of cases) {
  test(`selector: ${name}`, () => assert.equal(labelSelectorMatches(selector, labels), want));
}

test('formatLabelSelector prints kubectl text', () => {
  assert.equal(
    formatLabelSelector(
      S({ app: 'web' }, [
        R('env', 'In', ['prod', 'dev']),
        R('x', 'NotIn', ['1']),
        R('y', 'Exists'),
        R('z', 'DoesNotExist'),
      ]),
    ),
    'app=web,env in (dev,prod),x notin (1),y,!z',
  );
  assert.equal(formatLabelSelector(S()), '');
  assert.equal(isEmptySelector(S()), true);
  assert.equal(isEmptySelector(S({ a: 'b' })), false);
});

const key = fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/);
const value = fc.stringMatching(/^[a-z0-9]{0,4}$/);
const labelsArb = fc.dictionary(key, value, { maxKeys: 6 });

test('property: the empty selector matches any labels', () => {
  fc.assert(fc.property(labelsArb, (labels) => labelSelectorMatches(S(), labels)));
});

test('property: a matchLabels selector built from a subset of labels matches them', () => {
  fc.assert(
    fc.property(labelsArb, fc.func(fc.boolean()), (labels, keep) => {
      const subset = Object.fromEntries(Object.entries(labels).filter(([k]) => keep(k)));
      return labelSelectorMatches(S(subset), labels);
    }),
  );
});

test('property: NotIn of a value absent from labels matches', () => {
  fc.assert(
    fc.property(labelsArb, key, value, (labels, k, v) => {
      fc.pre(labels[k] !== v);
      return labelSelectorMatches(S({}, [R(k, 'NotIn', [v])]), labels);
    }),
  );
});

test('property: Exists and DoesNotExist are complements, as are In and NotIn', () => {
  fc.assert(
    fc.property(labelsArb, key, fc.array(value, { minLength: 1, maxLength: 3 }), (labels, k, vs) => {
      const exists = labelSelectorMatches(S({}, [R(k, 'Exists')]), labels);
      const absent = labelSelectorMatches(S({}, [R(k, 'DoesNotExist')]), labels);
      const inn = labelSelectorMatches(S({}, [R(k, 'In', vs)]), labels);
      const notIn = labelSelectorMatches(S({}, [R(k, 'NotIn', vs)]), labels);
      return exists !== absent && inn !== notIn;
    }),
  );
});

test('property: matchLabels {k: v} is the same as k In (v)', () => {
  fc.assert(
    fc.property(
      labelsArb,
      key,
      value,
      (labels, k, v) =>
        labelSelectorMatches(S({ [k]: v }), labels) === labelSelectorMatches(S({}, [R(k, 'In', [v])]), labels),
    ),
  );
});

test('property: adding a requirement never widens a selector', () => {
  fc.assert(
    fc.property(labelsArb, labelsArb, key, value, (labels, base, k, v) => {
      const narrow = S(base, [R(k, 'In', [v])]);
      return !labelSelectorMatches(narrow, labels) || labelSelectorMatches(S(base), labels);
    }),
  );
});

test("parseLabelSelectorText reads kubectl's -l forms", () => {
  assert.deepEqual(parseLabelSelectorText('app=web, tier==db,env!=prod,pod,!canary,zone in (a, b),k notin (x)'), {
    matchLabels: { app: 'web', tier: 'db' },
    matchExpressions: [
      { key: 'env', operator: 'NotIn', values: ['prod'] },
      { key: 'pod', operator: 'Exists', values: [] },
      { key: 'canary', operator: 'DoesNotExist', values: [] },
      { key: 'zone', operator: 'In', values: ['a', 'b'] },
      { key: 'k', operator: 'NotIn', values: ['x'] },
    ],
  });
  assert.ok(isEmptySelector(parseLabelSelectorText('')));
  for (const [text, why] of [
    ['app=web,,x', '"": an empty requirement'],
    ['a b', '"a b": not a requirement'],
    ['-bad=x', 'key "-bad"'],
    ['app=we b', 'not a requirement'],
    ['app=-x-', 'value "-x-"'],
  ] as const)
    assert.throws(
      () => parseLabelSelectorText(text),
      (e: Error) => e.message.startsWith(`-l "${text}": `) && e.message.includes(why),
      text,
    );
});

test('property: formatLabelSelector and parseLabelSelectorText agree on what matches', () => {
  const key = fc.constantFrom('app', 'tier', 'example.com/team');
  const val = fc.constantFrom('a', 'b', 'c');
  const req = fc.oneof(
    fc.record({
      key,
      operator: fc.constantFrom('In', 'NotIn' as const),
      values: fc.uniqueArray(val, { minLength: 1 }),
    }),
    fc.record({ key, operator: fc.constantFrom('Exists', 'DoesNotExist' as const), values: fc.constant([]) }),
  ) as fc.Arbitrary<LabelSelectorRequirement>;
  fc.assert(
    fc.property(
      fc.dictionary(key, val),
      fc.array(req, { maxLength: 4 }),
      fc.dictionary(key, val),
      (matchLabels, matchExpressions, labels) => {
        const selector: LabelSelector = { matchLabels, matchExpressions };
        const back = parseLabelSelectorText(formatLabelSelector(selector));
        assert.equal(labelSelectorMatches(back, labels), labelSelectorMatches(selector, labels));
      },
    ),
  );
});
