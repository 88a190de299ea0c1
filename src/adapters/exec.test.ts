import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ExecError } from '../core/port-errors.js';
import { inNetns, NodeExec, podArgv, spawnChild } from './exec.js';

describe('inNetns', () => {
  const cases: Array<{ name: string; netns: string | undefined; argv: string[]; want: string[] }> = [
    { name: 'no namespace: the argv itself', netns: undefined, argv: ['ip', 'link'], want: ['ip', 'link'] },
    {
      name: 'a namespace path: nsenter --net, then -- so the program keeps its flags',
      netns: '/var/run/netns/x',
      argv: ['nft', '-i'],
      want: ['nsenter', '--net=/var/run/netns/x', '--', 'nft', '-i'],
    },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(inNetns(c.netns, c.argv), c.want));
});

test('podArgv: a named namespace through ip netns exec (its /etc/netns binding), a mount namespace entered first', () => {
  assert.deepEqual(podArgv({ argv: ['cat', '/etc/resolv.conf'], netnsName: 'p' }), [
    'ip',
    'netns',
    'exec',
    'p',
    'cat',
    '/etc/resolv.conf',
  ]);
  assert.deepEqual(podArgv({ argv: ['true'], netns: '/var/run/netns/n1', mountNs: '/m/c1' }), [
    'nsenter',
    '--mount=/m/c1',
    '--',
    'nsenter',
    '--net=/var/run/netns/n1',
    '--',
    'true',
  ]);
  assert.deepEqual(podArgv({ argv: ['true'] }), ['true']);
});

describe('one error shape for every process', () => {
  const cases: Array<{
    name: string;
    argv: string[];
    exitCode: number | null;
    signal: string | null;
    stderr: RegExp;
    message: RegExp;
  }> = [
    {
      name: 'a non-zero exit',
      argv: ['sh', '-c', 'echo oops >&2; exit 3'],
      exitCode: 3,
      signal: null,
      stderr: /^oops\n$/,
      message: /^ctx: sh -c echo oops >&2; exit 3: exit code 3: oops$/,
    },
    {
      name: 'a program that does not exist',
      argv: ['weft-no-such-program'],
      exitCode: null,
      signal: null,
      stderr: /ENOENT/,
      message: /^ctx: weft-no-such-program: did not run to an exit: .*ENOENT/,
    },
  ];
  for (const c of cases) {
    test(`long-lived child: ${c.name}`, async () => {
      const child = spawnChild({ argv: c.argv, context: 'ctx' });
      const err = await child.exited;
      assert.ok(err instanceof ExecError);
      assert.deepEqual([err.argv, err.exitCode, err.signal, err.context], [c.argv, c.exitCode, c.signal, 'ctx']);
      assert.match(err.stderr, c.stderr);
      assert.match(err.message, c.message);
      assert.equal(child.running, false);
    });
    test(`run once: ${c.name}`, async () => {
      await assert.rejects(new NodeExec().run({ argv: c.argv, context: 'ctx' }), (err: unknown) => {
        assert.ok(err instanceof ExecError);
        assert.deepEqual([err.argv, err.context], [c.argv, 'ctx']);
        assert.match(err.message, c.message);
        return true;
      });
    });
  }

  test('a killed child says which signal', async () => {
    const child = spawnChild({ argv: ['sleep', '30'], context: 'sleeper' });
    assert.equal(child.running, true);
    child.kill('SIGKILL');
    const err = await child.exited;
    assert.deepEqual([err.exitCode, err.signal], [null, 'SIGKILL']);
    assert.match(err.message, /^sleeper: sleep 30: killed by SIGKILL$/);
  });

  test('stdin and stdout of a long-lived child', async () => {
    const child = spawnChild({ argv: ['cat'], context: 'cat', stdin: true, stdout: true });
    const got = new Promise<string>((resolve) => child.onStdout(resolve));
    child.write('hello\n');
    assert.equal(await got, 'hello\n');
    child.kill();
    assert.equal((await child.exited).signal, 'SIGTERM');
  });
});
