import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_METRICS } from './metrics.js';

test('metric names are unique, prefixed weft_, and valid Prometheus names', () => {
  const names = ALL_METRICS.map((m) => m.name);
  assert.equal(new Set(names).size, names.length);
  for (const n of names) assert.match(n, /^weft_[a-z_]+$/);
});

test('the names users scraped before the prom-client registry are still exported', () => {
  const names = new Set(ALL_METRICS.map((m) => m.name));
  for (const n of [
    'weft_backend_syncs_total',
    'weft_backend_changes_total',
    'weft_peers',
    'weft_peer_errors',
    'weft_lease_expiry_seconds',
  ]) {
    assert.ok(names.has(n), n);
  }
});
