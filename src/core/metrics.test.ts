import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from './metrics.js';

test('renders counters and gauges in the Prometheus text format', () => {
  const m = new Metrics();
  const syncs = m.counter('weft_syncs_total', 'Backend syncs by result.');
  syncs.inc({ result: 'ok' });
  syncs.inc({ result: 'ok' });
  syncs.inc({ result: 'error' });
  m.gauge('weft_peers', 'Peers programmed.').set(2);
  assert.equal(
    m.render(),
    [
      '# HELP weft_syncs_total Backend syncs by result.',
      '# TYPE weft_syncs_total counter',
      'weft_syncs_total{result="ok"} 2',
      'weft_syncs_total{result="error"} 1',
      '# HELP weft_peers Peers programmed.',
      '# TYPE weft_peers gauge',
      'weft_peers 2',
      '',
    ].join('\n'),
  );
});
