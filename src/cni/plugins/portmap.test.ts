// Unit tests for the portmap plugin's wiring with fake ports: what it sends to nft and when,
// the rollback of a failed ADD, and the lock discipline. Real-kernel behaviour is in
// test/portmap.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCniEnv } from '../../core/cni/env.js';
import { CniError } from '../../core/cni/errors.js';
import type { NftTx } from '../../core/nft/tx.js';
import { type Exec, type ExecRequest, type ExecResult } from '../../ports/exec.js';
import { ExecError } from '../../core/port-errors.js';
import type { FileLocker, LockHandle } from '../../ports/lock.js';
import type { Nft } from '../../ports/nft.js';
import type { Delegator } from '../delegate.js';
import type { PluginDeps } from '../deps.js';
import type { PluginCall } from '../skel.js';
import { createPortmapPlugin } from './portmap.js';

class FakeNft implements Nft {
  readonly applied: string[] = [];
  constructor(
    public listing: unknown[] | undefined = undefined,
    private readonly broken = false,
  ) {}
  async apply(tx: NftTx): Promise<void> {
    this.applied.push(tx.render());
  }
  async listTable(): Promise<unknown[] | undefined> {
    if (this.broken) throw new Error('nft: command not found');
    return this.listing;
  }
}

class FakeExec implements Exec {
  readonly ran: string[] = [];
  constructor(private readonly failSysctl: boolean) {}
  async run(req: ExecRequest): Promise<ExecResult> {
    this.ran.push(req.argv.join(' '));
    if (req.argv[0] === 'ip') return { stdout: '[{"dst":"10.244.0.5","dev":"cni0"}]', stderr: '', exitCode: 0 };
    if (req.argv[0] === 'sysctl' && this.failSysctl)
      throw new ExecError(req.argv, 255, null, '', 'permission denied', req.context);
    return { stdout: '', stderr: '', exitCode: 0 };
  }
  async tryRun(req: ExecRequest): Promise<ExecResult> {
    this.ran.push(req.argv.join(' '));
    return { stdout: '', stderr: '', exitCode: 0 };
  }
}

class FakeLocker implements FileLocker {
  held = 0;
  readonly paths: string[] = [];
  async acquire(path: string): Promise<LockHandle> {
    this.paths.push(path);
    this.held++;
    return { release: async () => void this.held-- };
  }
}

function setup(opts: { failSysctl?: boolean; listing?: unknown[]; brokenNft?: boolean } = {}) {
  const nft = new FakeNft(opts.listing, opts.brokenNft);
  const exec = new FakeExec(opts.failSysctl ?? false);
  const locker = new FakeLocker();
  const logs: string[] = [];
  const deps: PluginDeps = {
    exec,
    nft,
    locker,
    delegator: {} as Delegator,
    lockDir: '/run/test-locks',
    log: (l) => logs.push(l),
  };
  return { plugin: createPortmapPlugin(deps), nft, exec, locker, logs };
}

const prevResult = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/var/run/netns/p1' }],
  ips: [{ address: '10.244.0.5/24', interface: 1, gateway: '10.244.0.1' }],
};

function call(command: string, config: Record<string, unknown>): PluginCall {
  const env = parseCniEnv({
    CNI_COMMAND: command,
    CNI_CONTAINERID: 'c1',
    CNI_NETNS: '/var/run/netns/p1',
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/opt/cni/bin',
  });
  const full = { cniVersion: '1.0.0', name: 'mynet', type: 'portmap', ...config };
  return { env, config: full, rawConfig: JSON.stringify(full), version: '1.0.0' };
}

const mappings = { runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80 }] } };

test('ADD without portMappings returns prevResult and never touches nft', async () => {
  const { plugin, nft, locker } = setup();
  const r = await plugin.add(call('ADD', { prevResult }));
  assert.deepEqual(r.ips, prevResult.ips);
  assert.deepEqual(nft.applied, []);
  assert.deepEqual(locker.paths, []);
});

test("ADD applies one transaction under the lock, then sets route_localnet on the pod's device", async () => {
  const { plugin, nft, exec, locker, logs } = setup();
  await plugin.add(call('ADD', { prevResult, ...mappings, markMasqBit: 13 }));
  assert.equal(nft.applied.length, 1);
  assert.match(
    nft.applied[0] ?? '',
    /add element inet weft-portmap hostports-v4 \{ "tcp" \. 8080 comment "c1\/eth0 mynet" : 10\.244\.0\.5 \. 80 \}/,
  );
  assert.deepEqual(exec.ran, ['ip -j route get 10.244.0.5', 'sysctl -q -w net/ipv4/conf/cni0/route_localnet=1']);
  assert.deepEqual(locker.paths, ['/run/test-locks/portmap.lock']);
  assert.equal(locker.held, 0);
  assert.match(logs[0] ?? '', /markMasqBit ignored/);
});

test('ADD that cannot set route_localnet takes its elements out again and fails', async () => {
  const { plugin, nft, locker } = setup({ failSysctl: true });
  await assert.rejects(
    plugin.add(call('ADD', { prevResult, ...mappings })),
    (err: unknown) => err instanceof CniError && err.code === 101 && /route_localnet/.test(err.message),
  );
  assert.equal(nft.applied.length, 2);
  // The fake table still reads as absent, so the rollback deletes the (new) table outright.
  assert.equal(nft.applied[1], 'delete table inet weft-portmap\n');
  assert.equal(locker.held, 0);
});

test('snat false: no route_localnet, no masquerade elements', async () => {
  const { plugin, nft, exec } = setup();
  await plugin.add(call('ADD', { prevResult, ...mappings, snat: false }));
  assert.doesNotMatch(nft.applied[0] ?? '', /element inet weft-portmap masq/);
  assert.deepEqual(exec.ran, []);
});

test('DEL and GC with no table change nothing; GC without valid-attachments removes nothing', async () => {
  const { plugin, nft, logs } = setup();
  await plugin.del(call('DEL', {}));
  await plugin.gc(call('GC', { 'cni.dev/valid-attachments': [] }));
  assert.deepEqual(nft.applied, []);
  const withTable = setup({ listing: [] });
  await withTable.plugin.gc(call('GC', {}));
  assert.deepEqual(withTable.nft.applied, []);
  assert.match(withTable.logs[0] ?? '', /no cni\.dev\/valid-attachments/);
  assert.deepEqual(logs, []);
});

test('STATUS reports code 50 when nft does not work', async () => {
  const { plugin } = setup({ brokenNft: true });
  await assert.rejects(plugin.status(call('STATUS', {})), (err: unknown) => err instanceof CniError && err.code === 50);
});
