import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration } from './duration.js';

test('durations parse to milliseconds', () => {
  const cases: Array<[string, number]> = [
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['2', 2000],
    ['1.5s', 1500],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text, '--x'), ms, text);
});

test('bad durations name the flag', () => {
  for (const bad of ['', 'soon', '-1s', '0s', '5d'])
    assert.throws(() => parseDuration(bad, '--lease-ttl'), /--lease-ttl/);
});
