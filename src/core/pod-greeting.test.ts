// The lab pods' answers: the greeting, and UDP's who-request beside the plain echo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGreeting, podGreeting, udpAnswer, WHO_REQUEST } from './pod-greeting.js';

test('greeting: as people write the client address, and parsed back', () => {
  const g = podGreeting('web/w1', 8080, '::ffff:10.244.1.9');
  assert.equal(g, 'weft web/w1 8080 from 10.244.1.9\n');
  assert.deepEqual(parseGreeting(`${g}echo`), { pod: 'web/w1', port: 8080, client: '10.244.1.9' });
  assert.equal(parseGreeting('weft-probe-1-2'), undefined);
  assert.equal(parseGreeting('weft web/w1 8080 from 10.244.1.9'), undefined, 'a line needs its newline');
});

test('UDP: a plain datagram is echoed as is; a who-request gets the greeting, then the echo', () => {
  assert.equal(udpAnswer('web/w1', 53, '10.244.1.9', 'weft-probe-7-0'), 'weft-probe-7-0');
  assert.equal(udpAnswer('web/w1', 53, '10.244.1.9', 'weft-who'), 'weft-who', 'the prefix includes its space');
  const req = `${WHO_REQUEST}7-0`;
  assert.equal(udpAnswer('web/w1', 53, '10.244.1.9', req), `weft web/w1 53 from 10.244.1.9\n${req}`);
});
