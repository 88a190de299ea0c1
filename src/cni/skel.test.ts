import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dispatch, type CniPlugin, type PluginCall } from './skel.js';
import { CniError, CniErrorCode } from '../core/cni/errors.js';
import { SUPPORTED_VERSIONS } from '../core/cni/version.js';

/** A plugin that records its calls and returns a fixed result. */
function recorder(): { plugin: CniPlugin; calls: string[] } {
  const calls: string[] = [];
  const rec = (name: string) => async (call: PluginCall) => {
    calls.push(`${name}:${call.version}`);
  };
  return {
    calls,
    plugin: {
      add: async (call) => {
        calls.push(`ADD:${call.version}`);
        return { cniVersion: call.version, ips: [{ address: '10.1.0.2/24', gateway: '10.1.0.1' }] };
      },
      del: rec('DEL'),
      check: rec('CHECK'),
      gc: rec('GC'),
      status: rec('STATUS'),
    },
  };
}

async function run(plugin: CniPlugin, env: Record<string, string>, stdin: string) {
  let out = '';
  let err = '';
  const code = await dispatch(plugin, { env, stdin, stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out: out === '' ? undefined : (JSON.parse(out) as Record<string, unknown>), err };
}

const addEnv = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: '/bin' };

test('VERSION lists every supported version', async () => {
  const r = await run(recorder().plugin, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
  assert.equal(r.code, 0);
  assert.deepEqual(r.out, { cniVersion: '0.4.0', supportedVersions: [...SUPPORTED_VERSIONS] });
});

for (const version of SUPPORTED_VERSIONS) {
  test(`ADD at ${version} answers in ${version}`, async () => {
    const r = await run(recorder().plugin, addEnv, JSON.stringify({ cniVersion: version, name: 'n', type: 't' }));
    assert.equal(r.code, 0);
    assert.equal(r.out?.cniVersion, version);
    const ip = (r.out?.ips as Array<Record<string, unknown>>)[0]!;
    assert.equal(ip.version, version.startsWith('0.') ? '4' : undefined);
  });
}

const errorCases: Array<[string, Record<string, string>, string, number, RegExp]> = [
  ['malformed JSON', addEnv, '{"cniVersion":', CniErrorCode.DecodingFailure, /decode network config/],
  [
    'unknown cniVersion',
    addEnv,
    '{"cniVersion":"0.9.9","name":"n","type":"t"}',
    CniErrorCode.IncompatibleVersion,
    /incompatible CNI version "0.9.9"/,
  ],
  ['missing cniVersion', addEnv, '{"name":"n","type":"t"}', CniErrorCode.InvalidNetworkConfig, /cniVersion: missing/],
  [
    'missing env',
    { CNI_COMMAND: 'ADD' },
    '{"cniVersion":"1.0.0"}',
    CniErrorCode.InvalidEnvironment,
    /must be set for ADD/,
  ],
  [
    'CHECK at 0.3.1',
    { ...addEnv, CNI_COMMAND: 'CHECK' },
    '{"cniVersion":"0.3.1","name":"n","type":"t"}',
    CniErrorCode.IncompatibleVersion,
    /does not allow command CHECK/,
  ],
  [
    'GC at 1.0.0',
    { CNI_COMMAND: 'GC', CNI_PATH: '/bin' },
    '{"cniVersion":"1.0.0","name":"n","type":"t"}',
    CniErrorCode.IncompatibleVersion,
    /does not allow command GC/,
  ],
];
for (const [name, env, stdin, code, re] of errorCases) {
  test(`error: ${name} → code ${code}, exit 1, error JSON on stdout`, async () => {
    const { plugin, calls } = recorder();
    const r = await run(plugin, env, stdin);
    assert.equal(r.code, 1);
    assert.equal(r.out?.code, code);
    assert.match(String(r.out?.msg), re);
    assert.equal(typeof r.out?.cniVersion, 'string');
    assert.deepEqual(calls, [], 'the plugin must not be called');
  });
}

test('a CniError thrown by the plugin keeps its code; other errors become I/O failures', async () => {
  const thrower = (e: unknown): CniPlugin => {
    const t = async (): Promise<never> => {
      throw e;
    };
    return { add: t, del: t, check: t, gc: t, status: t };
  };
  const a = await run(
    thrower(new CniError(CniErrorCode.RangeExhausted, 'no addresses', 'range 10.0.0.0/30')),
    addEnv,
    '{"cniVersion":"1.0.0","name":"n","type":"t"}',
  );
  assert.deepEqual(a.out, { cniVersion: '1.0.0', code: 100, msg: 'no addresses', details: 'range 10.0.0.0/30' });
  const b = await run(thrower(new Error('disk on fire')), addEnv, '{"cniVersion":"1.0.0","name":"n","type":"t"}');
  assert.equal(b.out?.code, CniErrorCode.IoFailure);
  assert.equal(b.out?.msg, 'disk on fire');
});
