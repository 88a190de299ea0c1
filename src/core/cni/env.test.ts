import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCniEnv } from './env.js';
import { CniError, CniErrorCode } from './errors.js';

const base = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/p',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
};

test('a complete ADD environment parses', () => {
  const env = parseCniEnv({ ...base, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=a' });
  assert.equal(env.command, 'ADD');
  assert.deepEqual(env.path, ['/opt/cni/bin', '/usr/lib/cni']);
  assert.deepEqual(env.args, [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAME', 'a'],
  ]);
});

const bad: Array<[string, Record<string, string | undefined>, RegExp]> = [
  ['no command', { ...base, CNI_COMMAND: undefined }, /CNI_COMMAND is not set/],
  ['unknown command', { ...base, CNI_COMMAND: 'BOOT' }, /CNI_COMMAND: unknown command "BOOT"/],
  ['ADD without netns', { ...base, CNI_NETNS: undefined }, /CNI_NETNS must be set for ADD/],
  ['ADD without container id', { ...base, CNI_CONTAINERID: undefined }, /CNI_CONTAINERID must be set for ADD/],
  ['bad container id', { ...base, CNI_CONTAINERID: '-bad id' }, /CNI_CONTAINERID: "-bad id" must be alphanumeric/],
  [
    'ifname too long',
    { ...base, CNI_IFNAME: 'a-very-long-ifname' },
    /CNI_IFNAME: "a-very-long-ifname" is longer than 15 characters/,
  ],
  ['ifname with slash', { ...base, CNI_IFNAME: 'a/b' }, /CNI_IFNAME: "a\/b" contains/],
  ['bad CNI_ARGS', { ...base, CNI_ARGS: 'novalue' }, /CNI_ARGS: "novalue" is not KEY=VALUE/],
  ['CHECK without path', { ...base, CNI_COMMAND: 'CHECK', CNI_PATH: undefined }, /CNI_PATH must be set for CHECK/],
];
for (const [name, env, re] of bad) {
  test(`invalid environment: ${name} → code 4`, () => {
    assert.throws(
      () => parseCniEnv(env),
      (e: unknown) => e instanceof CniError && e.code === CniErrorCode.InvalidEnvironment && re.test(e.message),
    );
  });
}

test('DEL needs no CNI_NETNS (the namespace may be gone); VERSION and STATUS need nothing', () => {
  assert.equal(parseCniEnv({ ...base, CNI_COMMAND: 'DEL', CNI_NETNS: undefined }).netns, '');
  assert.equal(parseCniEnv({ CNI_COMMAND: 'VERSION' }).command, 'VERSION');
  assert.equal(parseCniEnv({ CNI_COMMAND: 'STATUS' }).command, 'STATUS');
});
