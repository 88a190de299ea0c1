/**
 * Issue 10, acceptance 4: an agent restart under a real TCP stream drops no flow, and isolated
 * pods stay isolated. A 3-node lab (vxlan): `srv` on n1 behind a NetworkPolicy that lets only
 * `cli` (n2) in on 5201 and 80, `other` (n3) not allowed. An iperf3 stream cli -> srv runs while
 * every agent is restarted (gracefully, then after kill -9); iperf3's JSON must show no error and
 * bytes in every 0.5 s interval, and `other` must stay refused throughout while `cli` connects.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { requireRoot } from './support/netns.js';
import { CLI, TestLab } from './support/lab.js';

const NS = 'rs';
const CONNECT = join(dirname(CLI), '..', 'lab', 'connect.js');

const pod = (name: string, node: string, ports: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${NS}, labels: { app: ${name} } }\n` +
  `spec: { nodeName: ${node}, containers: [{ name: s, ports: [${ports}] }] }\n`;

const CLUSTER =
  `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }\n---\n` +
  `${pod('srv', 'n1', '{ containerPort: 80 }')}---\n${pod('cli', 'n2', '{ containerPort: 80 }')}---\n` +
  `${pod('other', 'n3', '{ containerPort: 80 }')}---\n` +
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: only-cli, namespace: ${NS} }\n` +
  'spec:\n  podSelector: { matchLabels: { app: srv } }\n  policyTypes: [Ingress]\n' +
  '  ingress: [{ from: [{ podSelector: { matchLabels: { app: cli } } }], ports: [{ port: 5201 }, { port: 80 }] }]\n';

interface IperfJson {
  error?: string;
  intervals: Array<{ sum: { bytes: number; seconds: number } }>;
  end: { sum_sent?: { bytes: number }; sum_received?: { bytes: number } };
}

describe('an agent restart under a TCP stream (3-node lab, vxlan)', { timeout: 300_000 }, () => {
  requireRoot();
  const lab = new TestLab('trs');
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  before(() => {
    lab.up();
    lab.must(['apply', '-f', lab.file('cluster.yaml', CLUSTER)]);
  });
  after(() => {
    lab.down();
  });

  const ipOf = (name: string): string => {
    const p = lab.pods().find((x) => x.metadata.namespace === NS && x.metadata.name === name);
    if (!p?.status.podIP) throw new Error(`read pod ${NS}/${name}: status.podIP is not set yet`);
    return p.status.podIP;
  };

  /** Whether `from` completes a TCP connect to srv:port within 800 ms. */
  const connects = (from: string, ip: string, port: number) =>
    lab.weft(['exec', '-n', NS, from, '--', process.execPath, CONNECT, 'tcp', ip, String(port), '800']).status === 0;

  async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`wait for ${what}: not true after ${ms} ms`);
      await sleep(200);
    }
  }

  function run(argv: string[]): { out: Promise<{ code: number | null; stdout: string; stderr: string }> } {
    const child = spawn(process.execPath, [CLI, ...argv], { env: lab.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return { out: new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr }))) };
  }

  for (const kill of [false, true]) {
    test(`the stream survives ${kill ? 'kill -9 of every agent, then restart-agents' : 'restart-agents'}; other stays refused`, async () => {
      await until('the three pods to have IPs', () => {
        try {
          return ['srv', 'cli', 'other'].every((n) => ipOf(n) !== '');
        } catch {
          return false;
        }
      });
      const srvIp = ipOf('srv');
      await until(
        'the policy: cli connects to srv:80, other does not',
        () => connects('cli', srvIp, 80) && !connects('other', srvIp, 80),
      );
      const server = run(['exec', '-n', NS, 'srv', '--', 'iperf3', '-s', '-p', '5201', '-1']);
      await until('iperf3 to listen in srv', () =>
        lab.weft(['exec', '-n', NS, 'srv', '--', 'ss', '-Hltn', 'sport = :5201']).stdout.includes('5201'),
      );
      const client = run([
        'exec',
        '-n',
        NS,
        'cli',
        '--',
        'iperf3',
        '-c',
        srvIp,
        '-p',
        '5201',
        '-t',
        '10',
        '-i',
        '0.5',
        '-J',
      ]);
      // The stream is running once srv holds an established connection on 5201.
      await until('the stream to be established', () =>
        lab
          .weft(['exec', '-n', NS, 'srv', '--', 'ss', '-Htn', 'state', 'established', 'sport = :5201'])
          .stdout.includes('5201'),
      );
      if (kill) {
        const rec = JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as {
          nodes: Array<{ agentPid: number }>;
        };
        for (const n of rec.nodes) process.kill(n.agentPid, 'SIGKILL');
        assert.equal(connects('other', srvIp, 80), false, 'agents down: other is refused on 80');
        assert.equal(connects('other', srvIp, 5201), false, 'agents down: other is refused on 5201');
      }
      const restart = run(['lab', 'restart-agents', '--name', lab.name]);
      let done = false;
      void restart.out.then(() => (done = true));
      let rounds = 0;
      while (!done || rounds < 2) {
        assert.equal(connects('other', srvIp, 80), false, `during the restart (round ${rounds}): other refused on 80`);
        assert.equal(
          connects('other', srvIp, 5201),
          false,
          `during the restart (round ${rounds}): other refused on 5201`,
        );
        rounds++;
        await new Promise((r) => setImmediate(r));
      }
      const r = await restart.out;
      assert.equal(r.code, 0, `restart-agents: ${r.stderr}`);
      assert.equal(connects('cli', srvIp, 80), true, 'after the restart: cli connects to srv:80');
      assert.equal(connects('other', srvIp, 80), false, 'after the restart: other refused on 80');

      const c = await client.out;
      const s = await server.out;
      const j = JSON.parse(c.stdout) as IperfJson;
      assert.equal(j.error, undefined, `iperf3 reported an error: ${j.error}`);
      assert.equal(c.code, 0, `iperf3 client exit ${c.code}: ${c.stderr}`);
      assert.equal(s.code, 0, `iperf3 server exit ${s.code}: ${s.stderr}`);
      assert.ok(j.intervals.length >= 18, `iperf3 ran its 10 s in 0.5 s intervals (got ${j.intervals.length})`);
      const stalls = j.intervals.map((i, k) => [k, i.sum.bytes] as const).filter(([, b]) => b === 0);
      assert.deepEqual(stalls, [], 'no 0.5 s interval without bytes (a stall)');
      assert.ok((j.end.sum_received?.bytes ?? 0) > 0, 'the receiver got bytes');
    });
  }
});
