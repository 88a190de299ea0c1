import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResolvConf, parseUpstream } from './upstreams.js';

test('resolv.conf: nameserver lines in order, at most three, comments and scoped addresses skipped', () => {
  const text = [
    '# generated',
    'search example.com',
    'nameserver 10.0.0.2',
    'nameserver 2001:db8::53 # v6',
    ';nameserver 10.0.0.9',
    'nameserver fe80::1%eth0',
    'nameserver 10.0.0.3',
    'nameserver 10.0.0.4',
    'options ndots:5',
  ].join('\n');
  assert.deepEqual(parseResolvConf(text), [
    { host: '10.0.0.2', port: 53 },
    { host: '2001:db8::53', port: 53 },
    { host: '10.0.0.3', port: 53 },
  ]);
  assert.deepEqual(parseResolvConf(''), []);
});

test('--upstream forms and refusals', () => {
  const ok: Array<[string, { host: string; port: number }]> = [
    ['10.0.0.2', { host: '10.0.0.2', port: 53 }],
    ['10.0.0.2:5353', { host: '10.0.0.2', port: 5353 }],
    ['2001:db8::53', { host: '2001:db8::53', port: 53 }],
    ['[2001:db8::53]:5353', { host: '2001:db8::53', port: 5353 }],
  ];
  for (const [text, want] of ok) assert.deepEqual(parseUpstream(text), want, text);
  for (const [text, reason] of <Array<[string, string]>>[
    ['dns.example', '--upstream "dns.example": not an IP address'],
    ['10.0.0.2:0', '--upstream "10.0.0.2:0": port must be between 1 and 65535'],
    ['10.0.0.2:70000', 'port must be between 1 and 65535'],
  ])
    assert.throws(
      () => parseUpstream(text),
      (e: Error) => e.message.includes(reason),
      text,
    );
});
