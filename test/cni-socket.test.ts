/**
 * The node agent's CNI socket (src/cni/server.ts) and the plugin wrappers that use it
 * (src/cni/install.ts), with real wrapper scripts, socat and a real Unix socket: a call through
 * the socket gives the same output and exit code as the plugin run on its own, the wrapper runs
 * the plugin itself when no agent listens, and an agent that takes a call and dies is reported
 * as "try again later" rather than run twice.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installCni } from '../src/cni/install.js';
import { runInProcess } from '../src/cni/main.js';
import { parseCniRequest, startCniServer, type PluginRunner } from '../src/cni/server.js';

let dir = '';
let bin = '';

/** Runs a wrapper asynchronously (the server under test lives in this process). */
function runWrapper(
  path: string,
  env: Record<string, string>,
  stdin: string,
): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, [], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout }));
    child.stdin.end(stdin);
  });
}

describe('parseCniRequest', () => {
  test('reads the environment, the plugin type and the config; passes only CNI_* and WEFT_LOCK_DIR', () => {
    const req = parseCniRequest(
      Buffer.from(
        'CNI_COMMAND=ADD\nCNI_ARGS=A=1;B=2\nWEFT_LOCK_DIR=/l\nHOME=/root\nWEFT_PLUGIN_TYPE=bridge\n\n{"a":\n1}\n',
      ),
    );
    assert.deepEqual(req, {
      type: 'bridge',
      env: { CNI_COMMAND: 'ADD', CNI_ARGS: 'A=1;B=2', WEFT_LOCK_DIR: '/l' },
      stdin: '{"a":\n1}\n',
    });
  });
  const bad: Array<[string, string, RegExp]> = [
    ['no empty line', 'CNI_COMMAND=ADD\n{}', /no empty line/],
    ['no plugin type', 'CNI_COMMAND=ADD\n\n{}', /no WEFT_PLUGIN_TYPE/],
    ['a line without "="', 'CNI_COMMAND\nWEFT_PLUGIN_TYPE=x\n\n{}', /"CNI_COMMAND" is not KEY=VALUE/],
  ];
  for (const [name, text, err] of bad)
    test(`refuses a request with ${name}`, () => assert.throws(() => parseCniRequest(Buffer.from(text)), err));
});

describe('the CNI socket and the plugin wrappers', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'weft-cnisock-'));
    bin = join(dir, 'bin');
    installCni({ binDir: bin, prefix: 'weft-' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a call through the socket answers exactly as the plugin run on its own, and runs in the server', async () => {
    const socketPath = join(dir, 'cni.sock');
    const calls: string[] = [];
    const run: PluginRunner = (type, env, stdin) => {
      calls.push(`${type} ${env.CNI_COMMAND}`);
      return runInProcess(type, env, stdin);
    };
    const server = await startCniServer({ socketPath, run, log: () => undefined });
    try {
      assert.equal(statSync(socketPath).mode & 0o777, 0o600, 'the socket is for root only');
      const cases: Array<[string, Record<string, string>, string]> = [
        ['weft', { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}'],
        // An error: the spec's error JSON on stdout and exit code 1, both ways.
        [
          'weft-bridge',
          { CNI_COMMAND: 'ADD', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=a b' },
          '{"cniVersion":"1.0.0","name":"n","type":"bridge"}\n',
        ],
      ];
      for (const [plugin, env, conf] of cases) {
        const viaSocket = await runWrapper(join(bin, plugin), { ...env, WEFT_CNI_SOCKET: socketPath }, conf);
        const alone = await runWrapper(join(bin, plugin), { ...env, WEFT_CNI_SOCKET: join(dir, 'no-such.sock') }, conf);
        assert.deepEqual(viaSocket, alone, `${plugin} ${env.CNI_COMMAND}`);
        assert.ok(alone.stdout.includes('cniVersion'), alone.stdout);
      }
      assert.deepEqual(calls, ['weft VERSION', 'bridge ADD']);
    } finally {
      await server.close();
    }
  });

  test('no agent listening on the socket file: the wrapper runs the plugin itself', async () => {
    const socketPath = join(dir, 'stale.sock');
    // A socket file nobody listens on, as an agent killed with SIGKILL leaves it (a server that
    // closes normally removes its file).
    await runWrapper(
      process.execPath,
      {},
      `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`,
    );
    assert.ok(statSync(socketPath).isSocket(), 'the stale socket file is there');
    const r = await runWrapper(
      join(bin, 'weft'),
      { CNI_COMMAND: 'VERSION', WEFT_CNI_SOCKET: socketPath },
      '{"cniVersion":"1.0.0"}',
    );
    assert.equal(r.code, 0);
    assert.match(r.stdout, /supportedVersions/);
  });

  test('an agent that takes the call and gives no answer: code 11 (try again later), not a second run', async () => {
    const socketPath = join(dir, 'mute.sock');
    // It reads the whole request (resume), then drops the connection without a word.
    const mute = createServer({ allowHalfOpen: true }, (conn) => conn.resume().on('end', () => conn.destroy()));
    await new Promise<void>((resolve) => mute.listen(socketPath, resolve));
    try {
      const r = await runWrapper(
        join(bin, 'weft'),
        { CNI_COMMAND: 'VERSION', WEFT_CNI_SOCKET: socketPath },
        '{"cniVersion":"1.0.0"}',
      );
      assert.equal(r.code, 1);
      const err = JSON.parse(r.stdout) as { code: number; msg: string };
      assert.equal(err.code, 11);
      assert.match(err.msg, /took the call but gave no answer/);
    } finally {
      await new Promise<void>((resolve) => mute.close(() => resolve()));
    }
  });
});
