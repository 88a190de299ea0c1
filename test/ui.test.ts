/**
 * Issue 13, `weft ui`: the dashboard driven in a real browser (Debian's chromium through
 * playwright-core, by its executable path: nothing is downloaded), on ONE 3-node lab with
 * examples/xyz and a NodePort Service, with `weft ui --port 0` started as a user would:
 *
 * - the topology shows every node and every pod of the lab (the graph's elements and the side list);
 * - a pod applied while the page is open appears in it without a reload;
 * - the Reachability matrix equals `weft reach -o json -A` for 80/TCP, before and after a policy;
 * - with a deny policy applied, a click on a denied cell shows explain's text naming the policy;
 * - a trace run from the page draws its path: the hop labels, from the sender's pod through the
 *   two nodes to the receiver's pod, and numbered edges on the graph;
 * - the Flows view shows, live, a connection the deny policy dropped (a source port the test
 *   picks), highlighted and naming the policy, as `weft flows` shows it; its verdict filter hides it;
 * - after `weft probe`, the matrix carries the probe: every cell's measured value equals the
 *   probe's own result and the page counts the cells where it disagrees with the model (none
 *   here: a disagreement would be a bug); "probe now" on the page keeps a new probe that the
 *   cells then show.
 *
 * Screenshots of each view go to test-output/ui (ignored by git).
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireRoot } from './support/netns.js';
import { CLI, TestLab } from './support/lab.js';
import { waitFor } from './support/cluster.js';
import type { Flow } from '../src/core/flows/flow.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../test-output/ui/', import.meta.url));

const SERVICE = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: x }
spec:
  type: NodePort
  selector: { pod: a }
  ports: [{ name: http, port: 80, targetPort: 80, protocol: TCP }]
---
apiVersion: v1
kind: Service
metadata: { name: edge, namespace: x }
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: { pod: a }
  ports: [{ name: http, port: 80, targetPort: 80, protocol: TCP }]
`;

const DENY_TO_Y_B = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: deny-to-b, namespace: y }
spec:
  podSelector: { matchLabels: { pod: b } }
  policyTypes: [Ingress]
`;

const NEW_POD = `apiVersion: v1
kind: Pod
metadata: { name: d, namespace: x, labels: { pod: d } }
spec:
  containers:
    - name: serve
      image: weft-lab-echo
      ports: [{ containerPort: 80, protocol: TCP }]
`;

interface MatrixJson {
  port: number;
  protocol: string;
  pods: string[];
  results: Array<{ from: string; to: string; allowed: boolean }>;
}

describe('weft ui in a browser', { timeout: 180_000 }, () => {
  requireRoot();
  const lab = new TestLab('ui2t');
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let url = '';

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    lab.upWithExample(['--nodes', '3']);
    lab.must(['apply', '-f', lab.file('web.yaml', SERVICE)]);
    const child = spawn(process.execPath, [CLI, 'ui', '--port', '0'], {
      env: lab.env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    server = child;
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    url = await waitFor('weft ui to print its address', () => /on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
    await page.goto(url);
  });

  after(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    const r = lab.down();
    assert.equal(r.status, 0, r.stderr);
  });

  const view = async (name: string) => page.click(`header button[data-view="${name}"]`);
  const shot = async (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`) });
  /** The ids of the graph's elements of a kind. */
  const graph = async (kind: string) =>
    page.evaluate(
      (k) =>
        (
          globalThis as unknown as {
            weft: { cy?: { elements: (s: string) => { map: (f: (e: unknown) => string) => string[] } } };
          }
        ).weft.cy
          ?.elements(`[kind="${k}"]`)
          .map((e) => (e as { id: () => string }).id())
          .sort() ?? [],
      kind,
    );

  test('it serves only on 127.0.0.1 by default', () => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  test('the API refuses a bad request with a 400 naming the parameter', async () => {
    const cases: Array<[string, RequestInit | undefined, RegExp]> = [
      ['api/reach?port=0', undefined, /^port: "0" must be a port number/],
      ['api/reach?port=80&protocol=ICMP', undefined, /^protocol: "ICMP" is not TCP, UDP or SCTP/],
      ['api/explain?from=x/a&to=x/nope&port=80', undefined, /^to: pod "x\/nope" not found/],
      ['api/trace', { method: 'POST', body: '{"from":"x/a","to":"x/b","colour":1}' }, /^body\.colour: unknown field/],
      ['api/trace', { method: 'POST', body: '{"from":"x/a","to":"x/b","port":"80"}' }, /^body\.port: "80" must be/],
      ['api/trace', { method: 'POST', body: '{"from":"x/nope","to":"x/b","port":80}' }, /^FROM: pods "nope" not found/],
      ['api/flows?verdict=maybe', undefined, /^verdict: "maybe" is not a verdict/],
      ['api/flows?pod=b', undefined, /^pod: "b" is not a pod as namespace\/name/],
      ['api/flows?colour=red', undefined, /^colour: unknown parameter/],
      [
        'api/probe',
        { method: 'POST', body: '{"port":80,"protocol":"SCTP"}' },
        /^body\.protocol: "SCTP" must be TCP or UDP/,
      ],
      ['api/probe', { method: 'POST', body: '{"port":0}' }, /^body\.port: 0 must be a port number/],
      ['api/probe', { method: 'POST', body: '{"port":80,"pods":[]}' }, /^body\.pods: unknown field/],
    ];
    for (const [path, init, want] of cases) {
      const r = await fetch(`${url}${path}`, init);
      assert.equal(r.status, 400, path);
      assert.match(((await r.json()) as { error: string }).error, want, path);
    }
  });

  test('the topology shows every node and every pod of the lab', async () => {
    const nodes = lab
      .nodes()
      .map((n) => `node:${n.metadata.name}`)
      .sort();
    const pods = lab
      .pods()
      .map((p) => `pod:${p.metadata.namespace}/${p.metadata.name}`)
      .sort();
    assert.equal(nodes.length, 3);
    assert.equal(pods.length, 9);
    await waitFor('the graph to show every node and pod', async () => {
      const shown = [...(await graph('node')), ...(await graph('pod'))];
      return JSON.stringify(shown) === JSON.stringify([...nodes, ...pods]) ? true : undefined;
    });
    // The side list groups the same pods under their nodes.
    for (const p of lab.pods()) {
      const under = await page
        .locator(
          `[data-testid="node"][data-node="${p.spec.nodeName}"] [data-pod="${p.metadata.namespace}/${p.metadata.name}"]`,
        )
        .count();
      assert.equal(under, 1, `${p.metadata.namespace}/${p.metadata.name} under ${p.spec.nodeName}`);
    }
    await shot('topology');
  });

  test('a pod applied while the page is open appears in it without a reload', async () => {
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
    lab.must(['apply', '-f', lab.file('d.yaml', NEW_POD)]);
    await page.locator('[data-testid="pod"][data-pod="x/d"]').waitFor({ timeout: 30_000 });
    await waitFor('x/d in the graph', async () => ((await graph('pod')).includes('pod:x/d') ? true : undefined));
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker),
      42,
      'the page reloaded',
    );
  });

  /** The matrix as the page shows it, in `weft reach -o json`'s shape. */
  async function pageMatrix(): Promise<MatrixJson> {
    const table = page.locator('[data-testid="matrix"]');
    await table.waitFor();
    const cells = await table.locator('td.cell').evaluateAll((tds) =>
      tds.map((td) => ({
        from: td.getAttribute('data-from')!,
        to: td.getAttribute('data-to')!,
        allowed: td.getAttribute('data-allowed') === 'true',
      })),
    );
    const pods: string[] = [];
    for (const c of cells) if (!pods.includes(c.from)) pods.push(c.from);
    return {
      port: Number(await table.getAttribute('data-port')),
      protocol: (await table.getAttribute('data-protocol'))!,
      pods,
      results: cells,
    };
  }

  const reach = () => JSON.parse(lab.must(['reach', '-A', '-o', 'json', '--port', '80'])) as MatrixJson;

  test('the matrix equals weft reach for 80/TCP', async () => {
    await view('Reachability');
    const expected = reach();
    assert.equal(expected.pods.length, 10);
    const shown = await waitFor('the matrix of every pod', async () => {
      const m = await pageMatrix();
      return m.pods.length === expected.pods.length ? m : undefined;
    });
    assert.deepEqual(shown, expected);
  });

  test('with a deny policy, a click on a denied cell names the policy', async () => {
    lab.must(['apply', '-f', lab.file('deny.yaml', DENY_TO_Y_B)]);
    const expected = reach();
    assert.ok(expected.results.some((r) => r.from === 'x/a' && r.to === 'y/b' && !r.allowed));
    // The matrix follows the lab: it is recomputed when the new snapshot arrives.
    const cell = page.locator('td.cell[data-from="x/a"][data-to="y/b"]');
    await waitFor('x/a → y/b denied in the page', async () =>
      (await cell.getAttribute('data-allowed')) === 'false' ? true : undefined,
    );
    assert.deepEqual(await pageMatrix(), expected);
    await cell.click();
    const explain = page.locator('[data-testid="explain"]');
    await waitFor('the explanation', async () =>
      (await explain.textContent())?.includes('DENIED') ? true : undefined,
    );
    const text = (await explain.textContent())!;
    assert.match(text, /y\/deny-to-b/, text);
    assert.match(text, /^x\/a -> y\/b on 80\/TCP: DENIED/, text);
    await shot('reachability');
  });

  test('a trace from the page draws its path on the topology', async () => {
    const pods = lab.pods();
    const nodeOf = (ref: string) =>
      pods.find((p) => `${p.metadata.namespace}/${p.metadata.name}` === ref)!.spec.nodeName;
    assert.notEqual(nodeOf('x/a'), nodeOf('z/c'), 'the example puts x/a and z/c on different nodes');
    await page.locator('td.cell[data-from="x/a"][data-to="z/c"]').click();
    await page.click('[data-testid="trace"]');
    const hops = page.locator('[data-testid="trace-hops"] li.hop-label');
    await hops.first().waitFor({ timeout: 60_000 });
    const labels = await hops.allTextContents();
    assert.deepEqual(labels, ['pod x/a', `node ${nodeOf('x/a')}`, `node ${nodeOf('z/c')}`, 'pod z/c']);
    assert.match((await page.locator('[data-testid="trace-hops"]').textContent())!, /delivered to pod z\/c/);
    // Drawn on the graph: an edge per step between the elements the hops stand for.
    const edges = await page.evaluate(() =>
      (
        globalThis as unknown as {
          weft: {
            cy: { elements: (s: string) => { map: (f: (e: { data: (k: string) => string }) => string) => string[] } };
          };
        }
      ).weft.cy
        .elements('[kind="trace"]')
        .map((e) => `${e.data('label')} ${e.data('source')} ${e.data('target')}`),
    );
    assert.deepEqual(edges.sort(), [
      `1 pod:x/a node:${nodeOf('x/a')}`,
      `2 node:${nodeOf('x/a')} node:${nodeOf('z/c')}`,
      `3 node:${nodeOf('z/c')} pod:z/c`,
    ]);
    await shot('trace');
  });

  test('the Services and Policies views show the Service and what the policy selects', async () => {
    await view('Services');
    const svc = page.locator('[data-service="x/web"]');
    await svc.waitFor();
    const a = lab.pods().find((p) => p.metadata.namespace === 'x' && p.metadata.name === 'a')!;
    await waitFor('the endpoint of x/web', async () =>
      (await svc.textContent())?.includes(`${a.status.podIP} x/a`) ? true : undefined,
    );
    assert.match((await svc.textContent())!, /NodePort \d+/);
    await shot('services');
    // A trace through the Service from the page: DNAT to its one endpoint, x/a.
    const b = lab.pods().find((p) => p.metadata.namespace === 'x' && p.metadata.name === 'b')!;
    await page.selectOption('[data-testid="trace-from"]', 'x/b');
    await svc.locator('[data-testid="trace-service"]').click();
    const hops = page.locator('[data-testid="trace-hops"] li.hop-label');
    await hops.first().waitFor({ timeout: 60_000 });
    // The nodes the packet crosses: the sender's, then the endpoint's (once if they are one).
    const nodes = [...new Set([`node ${b.spec.nodeName}`, `node ${a.spec.nodeName}`])];
    assert.deepEqual(await hops.allTextContents(), ['pod x/b', ...nodes, 'pod x/a']);
    assert.match((await page.locator('[data-testid="trace-hops"]').textContent())!, /x\/b → service\/x\/web[^]*dnat/);
    // From outside to the LoadBalancer Service: the gateway, the one node that announces it (x/a's,
    // externalTrafficPolicy Local), x/a; drawn from the underlay.
    // (Each attempt from the Services view: a trace shows its result on the topology.)
    const labels = await waitFor(
      'x/edge traced from outside',
      async () => {
        await view('Services');
        await page.selectOption('[data-testid="trace-from"]', 'outside');
        await page.locator('[data-service="x/edge"] [data-testid="trace-service"]').click();
        await page
          .locator('[data-testid="trace-hops"] h3')
          .filter({ hasText: 'outside → service/x/edge' })
          .waitFor({ timeout: 20_000 });
        const got = await hops.allTextContents();
        return got.at(-1) === 'pod x/a' ? got : undefined;
      },
      90_000,
      1000,
    );
    assert.deepEqual(labels, ['outside', 'gateway', `node ${a.spec.nodeName}`, 'pod x/a']);
    const edges = await page.evaluate(() =>
      (
        globalThis as unknown as {
          weft: {
            cy: { elements: (s: string) => { map: (f: (e: { data: (k: string) => string }) => string) => string[] } };
          };
        }
      ).weft.cy
        .elements('[kind="trace"]')
        .map((e) => `${e.data('label')} ${e.data('source')} ${e.data('target')}`),
    );
    assert.deepEqual(edges.sort(), [`2 underlay node:${a.spec.nodeName}`, `3 node:${a.spec.nodeName} pod:x/a`]);
    await view('Policies');
    const policy = page.locator('[data-policy="y/deny-to-b"]');
    await policy.waitFor();
    assert.match((await policy.textContent())!, /y\/deny-to-b\s*Ingress\s*y\/b\s*0 ingress/);
    await shot('policies');
  });

  test('the Flows view shows a drop made by the test, live, highlighted with the policy named', async () => {
    await view('Flows');
    await page.locator('[data-testid="flow-status"]').filter({ hasText: /^live/ }).waitFor();
    const b = lab.pods().find((p) => p.metadata.namespace === 'y' && p.metadata.name === 'b')!;
    // x/a → y/b:80 from a source port of the test's: y/deny-to-b isolates y/b, so the SYN is dropped.
    const sport = 41_000 + Math.floor(Math.random() * 1000);
    const row = page.locator(`tr.flow[data-verdict="denied"][data-src="x/a"][data-dst="y/b"][data-sport="${sport}"]`);
    await waitFor(
      'the drop in the Flows view',
      async () => {
        const r = lab.weft(
          [
            'exec',
            '-n',
            'x',
            'a',
            '--',
            'socat',
            '-T1',
            '-',
            `TCP:${b.status.podIP}:80,sourceport=${sport},reuseaddr,connect-timeout=1`,
          ],
          { timeoutMs: 10_000 },
        );
        assert.ok(!r.stdout.includes('weft y/b 80'), 'y/b answered x/a although deny-to-b isolates it');
        return (await row.count()) > 0 ? true : undefined;
      },
      30_000,
      0,
    );
    const text = (await row.first().textContent())!;
    assert.match(text, /isolated for ingress by y\/deny-to-b/, text);
    // Highlighted: a denied row has its own background.
    const bg = (selector: string) =>
      page
        .locator(selector)
        .first()
        .evaluate(
          (e) =>
            (
              globalThis as unknown as { getComputedStyle: (e: unknown) => { backgroundColor: string } }
            ).getComputedStyle(e).backgroundColor,
        );
    // (This lab's policy allows nothing, so there is no allowed row to set it against: the
    // header row, which no verdict colours, stands in for the table's own background.)
    assert.notEqual(await bg('[data-testid="flows"] tr:first-child'), await bg('tr.flow[data-verdict="denied"]'));
    // The same flow as `weft flows` reads it from the node that dropped it.
    const cli = JSON.parse(lab.must(['flows', '-A', '--verdict', 'denied', '-o', 'json'])) as Flow[];
    const same = cli.find((f) => f.src.pod === 'x/a' && f.src.port === sport);
    assert.ok(same, `weft flows has the drop from port ${sport}`);
    assert.equal(same.node, b.spec.nodeName);
    assert.deepEqual(same.policies, ['y/deny-to-b']);
    assert.equal(await row.first().getAttribute('data-node'), same.node);
    await shot('flows');
    // The filter asks the server again: allowed only hides the drop, denied shows it again.
    await page.selectOption('[data-testid="flow-verdict"]', 'allowed');
    await waitFor('the drop hidden by verdict=allowed', async () => ((await row.count()) === 0 ? true : undefined));
    assert.equal(await page.locator('tr.flow[data-verdict="denied"]').count(), 0);
    await page.selectOption('[data-testid="flow-verdict"]', 'denied');
    await page.selectOption('[data-testid="flow-pod"]', 'y/b');
    await row.first().waitFor();
    assert.equal(await page.locator('tr.flow[data-verdict="allowed"]').count(), 0);
  });

  /** The cells' probe values as the page shows them, `weft probe -o json`'s shape (the pairs it probed). */
  async function pageProbe(): Promise<Array<{ from: string; to: string; connected: boolean }>> {
    const cells = await page.locator('[data-testid="matrix"] td.cell').evaluateAll((tds) =>
      tds.map((td) => ({
        from: td.getAttribute('data-from')!,
        to: td.getAttribute('data-to')!,
        probe: td.getAttribute('data-probe')!,
      })),
    );
    return cells
      .filter((c) => c.probe !== 'none')
      .map((c) => ({ from: c.from, to: c.to, connected: c.probe === 'connected' }));
  }

  test('the last weft probe is laid over the matrix: cells equal the probe, disagreements counted', async () => {
    const probe = lab.probe(['-A', '--port', '80']);
    await view('Reachability');
    await waitFor('the probe over the matrix', async () =>
      (await pageProbe()).length === probe.results.length ? true : undefined,
    );
    assert.deepEqual(await pageProbe(), probe.results);
    // The page counts what the model and the probe disagree on; it must be what they do disagree on.
    const model = reach();
    assert.deepEqual(probe.pods, model.pods, 'the probe covers the matrix');
    const allowed = new Map(model.results.map((r) => [`${r.from} ${r.to}`, r.allowed]));
    const disagree = probe.results.filter((r) => allowed.get(`${r.from} ${r.to}`) !== r.connected);
    const summary = page.locator('[data-testid="probe-summary"]');
    assert.equal(Number(await summary.getAttribute('data-disagreements')), disagree.length);
    assert.deepEqual(disagree, [], 'real traffic disagrees with weft reach: a bug');
    assert.ok(probe.results.some((r) => !r.connected) && probe.results.some((r) => r.connected));
    assert.equal(await page.locator('td.cell.agrees').count(), probe.results.length);
    await shot('probe-overlay');
    // "probe now" keeps a new probe (the lab's file), and the cells show it.
    const file = join(lab.dir, 'probes', '80-TCP.json');
    const before = (JSON.parse(readFileSync(file, 'utf8')) as { time: number }).time;
    await page.click('[data-testid="probe"]');
    const kept = await waitFor(
      'a new kept probe',
      () => {
        const k = JSON.parse(readFileSync(file, 'utf8')) as { time: number } & typeof probe;
        return k.time !== before ? k : undefined;
      },
      60_000,
    );
    await page.locator('[data-testid="probe"]').filter({ hasText: 'probe now' }).waitFor({ timeout: 60_000 });
    assert.deepEqual(await pageProbe(), kept.results);
  });

  test('a probe that disagrees with the model is shown as a disagreement, with the likely cause', async () => {
    // x/d (applied by the test) declares and serves 80/TCP only: on 81 the policies let every pod
    // but y/b be reached, yet nothing answers at x/d. The page must say so, not hide it.
    const probe = lab.probe(['-A', '--port', '81']);
    const model = JSON.parse(lab.must(['reach', '-A', '-o', 'json', '--port', '81'])) as MatrixJson;
    const allowed = new Map(model.results.map((r) => [`${r.from} ${r.to}`, r.allowed]));
    const disagree = probe.results
      .filter((r) => allowed.get(`${r.from} ${r.to}`) !== r.connected)
      .map((r) => `${r.from} ${r.to}`);
    assert.ok(disagree.length > 0 && disagree.every((d) => d.endsWith(' x/d')), disagree.join(', '));
    const port = page.locator('[data-testid="port"]');
    await port.fill('81');
    await port.dispatchEvent('change');
    await waitFor('the 81/TCP matrix with its probe', async () =>
      (await page.locator('[data-testid="matrix"]').getAttribute('data-port')) === '81' &&
      (await pageProbe()).length === probe.results.length
        ? true
        : undefined,
    );
    assert.deepEqual(await pageProbe(), probe.results);
    const shown = await page
      .locator('td.cell.disagrees')
      .evaluateAll((tds) => tds.map((td) => `${td.getAttribute('data-from')} ${td.getAttribute('data-to')}`));
    assert.deepEqual(shown, disagree);
    const list = (await page.locator('[data-testid="disagreements"]').textContent())!;
    assert.match(list, new RegExp(`${disagree.length} pairs where real traffic DISAGREES`));
    assert.match(
      list,
      /x\/a -> x\/d: weft reach says allowed, weft probe did not connect \(x\/d declares no container port 81\/TCP\)/,
    );
    // Visibly different from the cells that agree.
    const style = (selector: string) =>
      page
        .locator(selector)
        .first()
        .evaluate((e) => {
          const s = (
            globalThis as unknown as {
              getComputedStyle: (e: unknown) => { backgroundColor: string; outlineStyle: string };
            }
          ).getComputedStyle(e);
          return `${s.backgroundColor} ${s.outlineStyle}`;
        });
    assert.notEqual(await style('td.cell.disagrees'), await style('td.cell.allowed.agrees'));
    await shot('probe-disagrees');
  });
});
