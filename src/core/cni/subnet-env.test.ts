import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSubnetEnv, renderSubnetEnv } from './subnet-env.js';
import { CniError } from './errors.js';

test("renders Flannel's format and parses it back", () => {
  const text = renderSubnetEnv({ network: '10.244.0.0/16', subnet: '10.244.3.0/24', mtu: 1450, ipMasq: true });
  assert.equal(
    text,
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
  );
  assert.deepEqual(parseSubnetEnv(text), {
    network: '10.244.0.0/16',
    subnet: '10.244.3.0/24',
    mtu: 1450,
    ipMasq: true,
  });
});

test('WEFT_AWAIT_POLICY is written only when true, and read back', () => {
  const text = renderSubnetEnv({
    network: '10.244.0.0/16',
    subnet: '10.244.3.0/24',
    mtu: 1450,
    ipMasq: false,
    awaitPolicy: true,
  });
  assert.match(text, /^WEFT_AWAIT_POLICY=true$/m);
  assert.equal(parseSubnetEnv(text).awaitPolicy, true);
  const off = renderSubnetEnv({ network: '10.244.0.0/16', subnet: '10.244.3.0/24', mtu: 1450, ipMasq: false });
  assert.doesNotMatch(off, /WEFT_/);
  assert.equal(parseSubnetEnv(off).awaitPolicy, undefined);
  assert.equal(parseSubnetEnv(off.replace('FLANNEL_IPMASQ=false', 'WEFT_AWAIT_POLICY=false')).awaitPolicy, undefined);
});

const bad: Array<[string, string, RegExp]> = [
  [
    'bad await-policy flag',
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nWEFT_AWAIT_POLICY=1\n',
    /WEFT_AWAIT_POLICY: must be true or false/,
  ],
  ['missing subnet', 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_MTU=1450\n', /FLANNEL_SUBNET is missing/],
  [
    'bad CIDR',
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/40\nFLANNEL_MTU=1450\n',
    /FLANNEL_SUBNET: invalid CIDR/,
  ],
  [
    'bad MTU',
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=big\n',
    /FLANNEL_MTU: must be an integer/,
  ],
  [
    'bad ipmasq',
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=yes\n',
    /FLANNEL_IPMASQ: must be true or false/,
  ],
  ['garbage line', 'hello\n', /line "hello" is not NAME=VALUE/],
];
for (const [name, text, re] of bad) {
  test(`rejects ${name}`, () => {
    assert.throws(
      () => parseSubnetEnv(text),
      (e: unknown) => e instanceof CniError && e.code === 7 && re.test(e.message),
    );
  });
}
