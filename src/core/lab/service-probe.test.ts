// What `weft probe --to service/...` prints: counts per answering pod and failures per source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderServiceProbe, serviceProbeJson, summarizeServiceProbe } from './service-probe.js';

const head = {
  service: 'web/svc',
  clusterIP: '10.96.0.20',
  port: 80,
  protocol: 'TCP' as const,
  portName: 'http',
  connections: 4,
};
const r = summarizeServiceProbe(head, [
  { from: 'cl/client', outcomes: [{ pod: 'web/w2' }, { pod: 'web/w1' }, { pod: 'web/w2' }, { error: 'timeout' }] },
  { from: 'cl/other', outcomes: [{ error: 'refused' }, { error: 'refused' }, { error: 'timeout' }, { pod: 'web/w2' }] },
]);

test('summarize: answers counted per pod in name order, failures per reason', () => {
  assert.deepEqual(r.results, [
    { from: 'cl/client', answers: { 'web/w1': 1, 'web/w2': 2 }, failed: 1, failures: { timeout: 1 } },
    { from: 'cl/other', answers: { 'web/w2': 1 }, failed: 3, failures: { refused: 2, timeout: 1 } },
  ]);
  assert.deepEqual(Object.keys(r.results[0]!.answers), ['web/w1', 'web/w2']);
});

test('JSON: the documented keys, in order', () => {
  const doc = JSON.parse(serviceProbeJson(r)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(doc), [
    'service',
    'clusterIP',
    'port',
    'protocol',
    'portName',
    'connections',
    'results',
  ]);
  assert.deepEqual(Object.keys((doc.results as object[])[0]!), ['from', 'answers', 'failed', 'failures']);
});

test('table: a column per answering pod (names as written), zeros where a source got none, then why', () => {
  assert.equal(
    renderServiceProbe(r),
    [
      '4 new TCP connections from each source to service web/svc (10.96.0.20:80/TCP, port "http"); columns are the pods that answered',
      'FROM        web/w1   web/w2   FAILED   WHY',
      'cl/client   1        2        1        1 timeout',
      'cl/other    0        1        3        2 refused, 1 timeout',
      '',
    ].join('\n'),
  );
});

test('table: no WHY column when nothing failed', () => {
  const ok = summarizeServiceProbe({ ...head, connections: 1 }, [{ from: 'a/b', outcomes: [{ pod: 'web/w1' }] }]);
  assert.equal(renderServiceProbe(ok).split('\n')[1], 'FROM   web/w1   FAILED');
  assert.match(renderServiceProbe(ok), /^1 new TCP connection from/);
});
