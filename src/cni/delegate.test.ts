import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Delegator, ownWrapperType, type InProcessPlugin } from './delegate.js';
import type { Exec, ExecRequest, ExecResult } from '../ports/exec.js';
import { parseCniEnv } from '../core/cni/env.js';
import { CniError } from '../core/cni/errors.js';

const ENTRY = '/opt/weft/dist/src/cni/main.js';
const RESULT = JSON.stringify({ cniVersion: '1.0.0', ips: [{ address: '10.1.0.2/24' }] });
const FAILURE = JSON.stringify({ cniVersion: '1.0.0', code: 100, msg: 'no IP addresses available in range set' });

function fixture(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'weft-delegate-'));
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    chmodSync(join(dir, name), 0o755);
  };
  write(
    'weft-host-local',
    `#!/bin/sh\n# weft CNI plugin "host-local" (written by weft install-cni)\nunset NODE_EXTRA_CA_CERTS\nexec '/usr/bin/node' '${ENTRY}' host-local "$@"\n`,
  );
  write(
    'other-weft',
    `#!/bin/sh\n# weft CNI plugin "host-local" (written by weft install-cni)\nexec '/usr/bin/node' '/elsewhere/main.js' host-local "$@"\n`,
  );
  write('host-local', '#!/bin/sh\necho reference\n');
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

class CountingExec implements Exec {
  calls: ExecRequest[] = [];
  constructor(private readonly result: ExecResult) {}
  async run(req: ExecRequest): Promise<ExecResult> {
    return this.tryRun(req);
  }
  async tryRun(req: ExecRequest): Promise<ExecResult> {
    this.calls.push(req);
    return this.result;
  }
}

function env(dir: string) {
  return parseCniEnv({
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'c1',
    CNI_NETNS: '/var/run/netns/x',
    CNI_IFNAME: 'eth0',
    CNI_PATH: dir,
  });
}

test('ownWrapperType: only a weft wrapper of this very entry', () => {
  const f = fixture();
  try {
    assert.equal(ownWrapperType(join(f.dir, 'weft-host-local'), ENTRY), 'host-local');
    assert.equal(ownWrapperType(join(f.dir, 'other-weft'), ENTRY), undefined, "another checkout is exec'd");
    assert.equal(ownWrapperType(join(f.dir, 'host-local'), ENTRY), undefined, "a reference plugin is exec'd");
    assert.equal(ownWrapperType(join(f.dir, 'missing'), ENTRY), undefined);
  } finally {
    f.cleanup();
  }
});

test("a weft wrapper runs in-process with the caller's env and bytes; anything else is exec'd", async () => {
  const f = fixture();
  try {
    const exec = new CountingExec({ exitCode: 0, stdout: RESULT, stderr: '' });
    const seen: Array<{ type: string; command: string | undefined; stdin: string }> = [];
    const run: InProcessPlugin = async (type, e, stdin) => {
      seen.push({ type, command: e.CNI_COMMAND, stdin });
      return { exitCode: 0, stdout: RESULT, stderr: '' };
    };
    const d = new Delegator(exec, { entry: ENTRY, run });
    const viaInProcess = await d.run('weft-host-local', 'ADD', env(f.dir), '{"raw":1}');
    assert.deepEqual(seen, [{ type: 'host-local', command: 'ADD', stdin: '{"raw":1}' }]);
    assert.equal(exec.calls.length, 0);
    const viaExec = await d.run('host-local', 'ADD', env(f.dir), '{"raw":1}');
    assert.equal(exec.calls.length, 1);
    assert.equal(exec.calls[0]!.argv[0], join(f.dir, 'host-local'));
    assert.deepEqual(viaInProcess, viaExec, 'the same result either way');
  } finally {
    f.cleanup();
  }
});

test("an error from an in-process delegate is the same CniError as from an exec'd one", async () => {
  const f = fixture();
  try {
    const failing = { exitCode: 1, stdout: FAILURE, stderr: '' };
    const inProc = new Delegator(new CountingExec(failing), { entry: ENTRY, run: async () => failing });
    const execd = new Delegator(new CountingExec(failing));
    const errOf = async (d: Delegator) => {
      try {
        await d.run('weft-host-local', 'ADD', env(f.dir), '{}');
      } catch (err) {
        return err;
      }
      assert.fail('expected an error');
    };
    const a = await errOf(inProc);
    const b = await errOf(execd);
    assert.ok(a instanceof CniError && b instanceof CniError);
    assert.equal(a.code, 100);
    assert.deepEqual([a.code, a.message], [b.code, b.message]);
  } finally {
    f.cleanup();
  }
});
