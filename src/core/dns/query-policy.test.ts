import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkQuery, fitToLimit, typeLabel, udpLimit, type Sections } from './query-policy.js';

test('which queries are answered, refused or dropped', () => {
  const q = (name: string, type = 'A') => ({ name, type, class: 'IN' });
  const cases: Array<[string, Parameters<typeof checkQuery>[0], string]> = [
    ['a plain query', { isResponse: false, opcode: 'QUERY', questions: [q('web.y.svc.cluster.local')] }, 'answer'],
    ['the root', { isResponse: false, opcode: 'QUERY', questions: [q('.', 'NS')] }, 'answer'],
    ['a response', { isResponse: true, opcode: 'QUERY', questions: [q('a')] }, 'drop'],
    ['NOTIFY', { isResponse: false, opcode: 'OPCODE_4', questions: [q('a')] }, 'NOTIMP'],
    ['no question', { isResponse: false, opcode: 'QUERY', questions: [] }, 'FORMERR'],
    ['two questions', { isResponse: false, opcode: 'QUERY', questions: [q('a'), q('b')] }, 'FORMERR'],
    ['a label of 64', { isResponse: false, opcode: 'QUERY', questions: [q(`${'a'.repeat(64)}.example`)] }, 'FORMERR'],
    ['an empty label', { isResponse: false, opcode: 'QUERY', questions: [q('a..example')] }, 'FORMERR'],
    [
      'a name of 254 characters',
      {
        isResponse: false,
        opcode: 'QUERY',
        questions: [q(Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.') + '.ab')],
      },
      'FORMERR',
    ],
    ['AXFR', { isResponse: false, opcode: 'QUERY', questions: [q('cluster.local', 'AXFR')] }, 'REFUSED'],
  ];
  for (const [name, input, want] of cases) {
    const v = checkQuery(input);
    assert.equal(v.kind === 'reply' ? v.rcode : v.kind, want, name);
  }
});

test('UDP answer size: 512 without EDNS0, the client size within [512, 4096] with it', () => {
  assert.deepEqual([undefined, 0, 512, 1232, 4096, 65535].map(udpLimit), [512, 512, 512, 1232, 4096, 4096]);
});

test('typeLabel keeps metric labels bounded', () => {
  assert.deepEqual(['A', 'SRV', 'TYPE65534', 'NAPTR'].map(typeLabel), ['A', 'SRV', 'other', 'other']);
});

// A record of n bytes; the message is a 12-byte header plus its records.
type R = { bytes: number; opt?: boolean };
const sizeOf = (s: Sections<R>) =>
  12 + [...s.answers, ...s.authorities, ...s.additionals].reduce((n, r) => n + r.bytes, 0);
const rec = fc.integer({ min: 1, max: 300 }).map((bytes): R => ({ bytes }));

test('fitToLimit: the result fits whenever the kept records do; TC only when answers or authorities were dropped', () => {
  fc.assert(
    fc.property(
      fc.array(rec, { maxLength: 20 }),
      fc.array(rec, { maxLength: 3 }),
      fc.array(rec, { maxLength: 10 }),
      fc.integer({ min: 512, max: 4096 }),
      (answers, authorities, extra, limit) => {
        const opt: R = { bytes: 11, opt: true };
        const s = { answers, authorities, additionals: [...extra, opt] };
        const { sections, truncated } = fitToLimit(s, limit, sizeOf, (r) => r.opt === true);
        assert.ok(sizeOf(sections) <= limit || sections.answers.length === 0);
        assert.ok(sections.additionals.includes(opt), 'the OPT record stays');
        if (sizeOf(s) <= limit) assert.deepEqual(sections, s, 'what fits is left alone');
        // TC exactly when answers or the authority section (a negative answer's SOA) had to go.
        assert.equal(
          truncated,
          sections.answers.length < answers.length || sections.authorities.length < authorities.length,
        );
        // As many answers as fit: one more would not.
        if (sections.answers.length < answers.length)
          assert.ok(
            sizeOf({ answers: answers.slice(0, sections.answers.length + 1), authorities: [], additionals: [opt] }) >
              limit,
          );
      },
    ),
  );
});
