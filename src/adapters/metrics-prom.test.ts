import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PromMetrics } from './metrics-prom.js';

const syncs = { name: 'weft_test_syncs_total', help: 'Syncs by result.', labelNames: ['result'] };

test('counters, gauges and histograms render in the Prometheus text format', async () => {
  const m = new PromMetrics();
  m.counter(syncs).inc({ result: 'ok' });
  m.counter(syncs).inc({ result: 'ok' });
  m.counter(syncs).inc({ result: 'error' });
  m.gauge({ name: 'weft_test_peers', help: 'Peers.' }).set(2);
  const h = m.histogram({
    name: 'weft_test_seconds',
    help: 'Durations.',
    labelNames: ['controller'],
    buckets: [0.1, 1],
  });
  h.observe(0.05, { controller: 'backend' });
  h.observe(0.5, { controller: 'backend' });
  const { text, contentType } = await m.render();
  assert.match(contentType, /^text\/plain/);
  const lines = text.split('\n');
  for (const want of [
    '# TYPE weft_test_syncs_total counter',
    'weft_test_syncs_total{result="ok"} 2',
    'weft_test_syncs_total{result="error"} 1',
    '# TYPE weft_test_peers gauge',
    'weft_test_peers 2',
    '# TYPE weft_test_seconds histogram',
    'weft_test_seconds_bucket{le="0.1",controller="backend"} 1',
    'weft_test_seconds_bucket{le="1",controller="backend"} 2',
    'weft_test_seconds_count{controller="backend"} 2',
  ]) {
    assert.ok(lines.includes(want), `missing line: ${want}\n${text}`);
  }
});

test('two registries do not share values', async () => {
  const a = new PromMetrics();
  const b = new PromMetrics();
  a.counter(syncs).inc({ result: 'ok' });
  b.counter(syncs).inc({ result: 'ok' }, 5);
  assert.match((await a.render()).text, /weft_test_syncs_total\{result="ok"\} 1\n/);
  assert.match((await b.render()).text, /weft_test_syncs_total\{result="ok"\} 5\n/);
});
