/**
 * Ingress with a real nginx (issue 19), on one 2-node lab with two `weft ingress` pods behind the
 * ingress-weft LoadBalancer Service, and real HTTP(S) from `weft lab outside` with Debian's curl:
 *
 * - the host/path table of src/testkit/ingress-cases.ts (the unit tests check the pure matcher
 *   against it), every case sent for real: nginx's answer is the specification's;
 * - the client's address reaches the backend in X-Real-IP and X-Forwarded-For;
 * - TLS with SNI for two hosts (certificates made here with openssl, each verified by curl against
 *   its own CA), and HTTP → HTTPS redirects for them;
 * - an endpoint removed (graceful delete) while a client loops: no request fails, and nginx takes
 *   the change from the controller's post to its Lua balancer, without a reload (nginx.conf is
 *   the same text before and after);
 * - `weft explain outside URL` (and from a pod) gives the journey nginx took: for a sample of the
 *   table the pod it names is the pod that answered; the entry, both ingress pods' paths, TLS and
 *   the redirect;
 * - an invalid Ingress refused by apply with the API server's reason, nothing stored or rendered;
 * - an Ingress nginx refuses (a certificate and a key that do not belong together: valid PEM, so
 *   apply accepts it, but `nginx -t` does not): reported on its status, the running configuration
 *   kept, and later changes still applied.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireRoot, sh } from './support/netns.js';
import { CLI, TestLab } from './support/lab.js';
import { waitFor } from './support/cluster.js';
import {
  echoPod,
  ROUTE_CASES,
  ROUTE_INGRESSES,
  routeBackendsManifest,
  ROUTES_NAMESPACE,
} from '../src/testkit/ingress-cases.js';

const CLIENT = '10.99.0.250';
const WEFT = [process.execPath, CLI];

interface Answer {
  pod: string;
  host: string;
  path: string;
  xRealIp?: string;
  xForwardedFor?: string;
  xForwardedProto?: string;
}

/**
 * The results of curl runs written with -w ' %{http_code}\n' (or ' 000' when curl failed): each
 * body line (the echo's JSON ends with a newline) is followed by its code line.
 */
function curlResults(text: string): Array<{ code: number; pod?: string }> {
  const out: Array<{ code: number; pod?: string }> = [];
  let body: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^ (\d{3})$/.exec(line);
    if (!m) {
      if (line !== '') body = line;
      continue;
    }
    let pod: string | undefined;
    try {
      pod = body === undefined ? undefined : (JSON.parse(body) as Answer).pod;
    } catch {
      pod = undefined;
    }
    out.push({ code: Number(m[1]), ...(pod === undefined ? {} : { pod }) });
    body = undefined;
  }
  return out;
}

describe('Ingress with a real nginx', { timeout: 900_000 }, () => {
  let lab: TestLab;
  let lb = '';

  const outside = (argv: string[], timeoutMs = 60_000) => lab.weft(['lab', 'outside', '--', ...argv], { timeoutMs });
  const apply = (manifest: string) =>
    lab.must(['apply', '-f', lab.file(`m-${Date.now()}-${Math.random()}.yaml`, manifest)]);
  const ingress = (ns: string, name: string) =>
    JSON.parse(lab.must(['get', 'ingress', name, '-n', ns, '-o', 'json'])) as {
      status?: {
        loadBalancer: { ingress?: Array<{ ip: string }> };
        conditions?: Array<{ status: string; reason: string; message: string }>;
      };
    };
  const confPath = () => join(lab.dir, 'ingress', 'weft-ingress-1', 'nginx.conf');
  const conf = () => readFileSync(confPath(), 'utf8');
  /** One request from outside: [http code, answer] (answer undefined when the body is not the echo's). */
  const get = (host: string, path: string, extra: string[] = []): [number, Answer | undefined] => {
    const r = outside([
      'curl',
      '-s',
      '-m',
      '5',
      '-w',
      '\n%{http_code}',
      '-H',
      `Host: ${host}`,
      ...extra,
      `http://${lb}${path}`,
    ]);
    const lines = r.stdout.trimEnd().split('\n');
    const code = Number(lines.pop());
    try {
      return [code, JSON.parse(lines.join('\n')) as Answer];
    } catch {
      return [code, undefined];
    }
  };
  const allPodsReady = () =>
    (
      JSON.parse(lab.must(['get', 'pods', '-A', '-o', 'json'])) as {
        items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }>;
      }
    ).items.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));

  before(async () => {
    requireRoot();
    lab = new TestLab('ing');
    lab.up(['--nodes', '2', '--ingress-replicas', '2']);
    apply(routeBackendsManifest(WEFT));
    apply(ROUTE_INGRESSES);
    await waitFor('every pod Ready', () => (allPodsReady() ? true : undefined), 60_000, 250);
    const svc = JSON.parse(lab.must(['get', 'svc', 'ingress-weft', '-n', 'ingress-weft', '-o', 'json'])) as {
      status: { loadBalancer: { ingress: Array<{ ip: string }> } };
    };
    lb = svc.status.loadBalancer.ingress[0]!.ip;
    // The controller has the routes once the default backend answers through it.
    await waitFor(
      'the routes in nginx',
      () => (get('nowhere.example.com', '/x')[1]?.pod === 'd' ? true : undefined),
      30_000,
      250,
    );
  });

  after(() => {
    lab?.down();
  });

  test('status: every served Ingress has the load balancer address; a shadowed one says why', () => {
    for (const name of ['routes', 'fallback']) {
      const s = ingress(ROUTES_NAMESPACE, name).status;
      assert.deepEqual(s?.loadBalancer.ingress, [{ ip: lb }], name);
      assert.equal(s?.conditions?.[0]?.status, 'True', name);
    }
    const shadow = ingress(ROUTES_NAMESPACE, 'zz-shadow').status?.conditions?.[0];
    assert.equal(shadow?.reason, 'Incomplete');
    assert.match(
      shadow?.message ?? '',
      /Exact \/foo on host exact\.example\.com is shadowed by Exact \/foo of routes\/routes/,
    );
    const table = lab.must(['get', 'ingress', '-n', ROUTES_NAMESPACE]);
    assert.match(table, /^NAME\s+CLASS\s+HOSTS\s+ADDRESS\s+PORTS\s+AGE\n/);
    assert.match(table, new RegExp(`fallback\\s+weft\\s+\\*\\s+${lb.replaceAll('.', '\\.')}\\s+80\\s`));
  });

  test(`the ${ROUTE_CASES.length}-case host/path table, each request sent for real through nginx`, () => {
    // One outside client runs every request (one process instead of one per case).
    const script = ROUTE_CASES.map(
      (_, i) =>
        `curl -s -m 5 -w ' %{http_code}\\n' -H "Host: $${2 * i + 1}" "http://${lb}$${2 * i + 2}" || echo ' 000'`,
    )
      .join('; ')
      .replace(/\$(\d+)/g, (_, n: string) => `\${${n}}`);
    const args = ROUTE_CASES.flatMap((c) => [c.host, c.path]);
    const r = outside(['sh', '-c', script, 'sh', ...args], 120_000);
    const results = curlResults(r.stdout);
    assert.equal(results.length, ROUTE_CASES.length, r.stdout + r.stderr);
    const wrong: string[] = [];
    ROUTE_CASES.forEach((c, i) => {
      const { code, pod } = results[i]!;
      const got = code === 200 ? (pod ?? 'not the echo') : code;
      if (got !== c.want) wrong.push(`${c.host} ${c.path}: want ${c.want} (${c.why}), got ${got}`);
    });
    assert.deepEqual(wrong, []);
  });

  test("the backend sees the client's address in X-Real-IP and X-Forwarded-For, the Host as sent", () => {
    const [code, a] = get('exact.example.com', '/foo/bar?x=1');
    assert.equal(code, 200);
    assert.equal(a?.pod, 'c');
    assert.equal(a?.xRealIp, CLIENT);
    assert.equal(a?.xForwardedFor, CLIENT);
    assert.equal(a?.xForwardedProto, 'http');
    assert.equal(a?.host, 'exact.example.com');
    assert.equal(a?.path, '/foo/bar?x=1');
  });

  test('TLS with SNI for two hosts, each with its own certificate; HTTP redirects to HTTPS', async () => {
    const certs: Record<string, { crt: string; key: string }> = {};
    for (const host of ['tls1.example.com', 'tls2.example.com']) {
      const crt = join(lab.root, `${host}.crt`);
      const key = join(lab.root, `${host}.key`);
      const r = sh(
        [
          'openssl',
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          key,
          '-out',
          crt,
          '-days',
          '2',
          '-subj',
          `/CN=${host}`,
          '-addext',
          `subjectAltName=DNS:${host}`,
        ],
        { timeoutMs: 60_000 },
      );
      assert.equal(r.status, 0, r.stderr);
      certs[host] = { crt, key };
    }
    const b64 = (p: string) => readFileSync(p).toString('base64');
    const secret = (name: string, host: string) => `apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${ROUTES_NAMESPACE}}
type: kubernetes.io/tls
data: {tls.crt: ${b64(certs[host]!.crt)}, tls.key: ${b64(certs[host]!.key)}}
`;
    apply(`${secret('tls1', 'tls1.example.com')}---
${secret('tls2', 'tls2.example.com')}---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: tls, namespace: ${ROUTES_NAMESPACE}}
spec:
  tls:
  - {hosts: [tls1.example.com], secretName: tls1}
  - {hosts: [tls2.example.com], secretName: tls2}
  rules:
  - host: tls1.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}
  - host: tls2.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: b, port: {number: 80}}}}]}
`);
    const https = (host: string, ca: string) => {
      const r = outside([
        'curl',
        '-s',
        '-m',
        '5',
        '--resolve',
        `${host}:443:${lb}`,
        '--cacert',
        ca,
        `https://${host}/secure`,
      ]);
      return r.status === 0 ? (JSON.parse(r.stdout) as Answer) : undefined;
    };
    const one = await waitFor(
      'tls1 over HTTPS',
      () => https('tls1.example.com', certs['tls1.example.com']!.crt),
      30_000,
      250,
    );
    assert.equal(one.pod, 'a');
    assert.equal(one.xForwardedProto, 'https');
    assert.equal(https('tls2.example.com', certs['tls2.example.com']!.crt)?.pod, 'b');
    // SNI picks the certificate: tls2's name with tls1's CA fails verification.
    const wrong = outside([
      'curl',
      '-s',
      '-m',
      '5',
      '--resolve',
      `tls2.example.com:443:${lb}`,
      '--cacert',
      certs['tls1.example.com']!.crt,
      'https://tls2.example.com/',
    ]);
    assert.notEqual(wrong.status, 0);
    // A name with no certificate: the catch-all rejects the handshake.
    const none = outside([
      'curl',
      '-s',
      '-m',
      '5',
      '-k',
      '--resolve',
      `plain.example.com:443:${lb}`,
      'https://plain.example.com/',
    ]);
    assert.notEqual(none.status, 0);
    const redirect = outside([
      'curl',
      '-s',
      '-m',
      '5',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{redirect_url}',
      '-H',
      'Host: tls1.example.com',
      `http://${lb}/a?b=1`,
    ]);
    assert.equal(redirect.stdout, '308 https://tls1.example.com/a?b=1');
  });

  test('a default backend answers what no rule matches', () => {
    const [code, a] = get('prefix-only.example.com', '/elsewhere');
    assert.equal(code, 200);
    assert.equal(a?.pod, 'def');
  });

  test('weft explain outside URL: the journey names what nginx did (rule, Service, endpoints, the path to them); from a pod, through the ClusterIP; TLS and the redirect by the same rules', () => {
    interface Journey {
      outcome: string;
      entry: { address?: string; ingressPods: Array<{ pod: string }> };
      route: { kind: string; ingress?: string };
      tls?: { secret?: string };
      upstreams: Array<{
        pod?: string;
        hops: Array<{ from: string; path: { kind: string }; policy: { allowed?: boolean } }>;
      }>;
    }
    const explain = (from: string, url: string) =>
      JSON.parse(lab.must(['explain', from, url, '-o', 'json'])) as Journey;
    // Every fourth case of the table nginx answered above: the journey's backend is the pod nginx reached.
    const wrong: string[] = [];
    ROUTE_CASES.filter((_, i) => i % 4 === 0).forEach((c) => {
      const j = explain('outside', `http://${c.host}${c.path}`);
      const got = j.outcome === 'not-found' ? 404 : [...new Set(j.upstreams.map((u) => u.pod))].join(',') || j.outcome;
      const want = c.want === 404 ? 404 : `${ROUTES_NAMESPACE}/${c.want}`;
      if (got !== want) wrong.push(`${c.host}${c.path}: nginx answered ${c.want}, explain says ${got}`);
    });
    assert.deepEqual(wrong, []);
    const j = explain('outside', 'http://exact.example.com/foo/bar');
    assert.equal(j.entry.address, lb, 'enters at the load-balancer address');
    assert.equal(j.entry.ingressPods.length, 2, 'either ingress pod can take it');
    assert.equal(j.route.kind, 'rule');
    assert.equal(j.route.ingress, `${ROUTES_NAMESPACE}/routes`);
    assert.equal(j.upstreams[0]?.hops.length, 2, 'a path from each ingress pod to the upstream');
    assert.ok(j.upstreams[0]!.hops.every((h) => h.policy.allowed === true && h.path.kind !== 'unknown'));
    const text = lab.must(['explain', 'outside', 'http://exact.example.com/foo/bar']);
    assert.match(
      text,
      /route: Ingress routes\/routes: host exact\.example\.com, path \/foo\/bar \(Prefix\) matches \/foo\/bar/,
    );
    assert.match(text, /upstream \S+:\d+ \(pod routes\/c on n\d\)/);

    const svc = JSON.parse(lab.must(['get', 'svc', 'ingress-weft', '-n', 'ingress-weft', '-o', 'json'])) as {
      spec: { clusterIP: string };
    };
    const fromPod = explain(`${ROUTES_NAMESPACE}/a`, 'http://exact.example.com/foo');
    assert.equal(fromPod.entry.address, svc.spec.clusterIP, 'from a pod: the controller Service ClusterIP');
    assert.deepEqual(
      fromPod.upstreams.map((u) => u.pod),
      [`${ROUTES_NAMESPACE}/a`],
    );

    assert.equal(explain('outside', 'http://tls1.example.com/a').outcome, 'redirected');
    const tls = explain('outside', 'https://tls1.example.com/a');
    assert.equal(tls.tls?.secret, `${ROUTES_NAMESPACE}/tls1`);
    assert.deepEqual(
      tls.upstreams.map((u) => u.pod),
      [`${ROUTES_NAMESPACE}/a`],
    );
    const bad = lab.weft(['explain', 'outside', 'ftp://x/y']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /only http and https are routed by an Ingress/);
  });

  test('an endpoint removed while a client loops: every request succeeds, the removed pod stops answering, and nginx is not reloaded', async () => {
    // Deleted gracefully, as a rollout deletes pods: its endpoint turns not ready (the controller
    // posts the lists without it) while the pod still serves, then it goes.
    const load2 = echoPod(
      WEFT,
      ROUTES_NAMESPACE,
      'load-2',
      { app: 'load' },
      { nodeName: 'n2', terminationGracePeriodSeconds: 3 },
    );
    apply(
      [
        echoPod(WEFT, ROUTES_NAMESPACE, 'load-1', { app: 'load' }, { nodeName: 'n1' }),
        load2,
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'load', namespace: ROUTES_NAMESPACE },
          spec: { selector: { app: 'load' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
        },
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name: 'load', namespace: ROUTES_NAMESPACE },
          spec: {
            rules: [
              {
                host: 'load.example.com',
                http: {
                  paths: [
                    { path: '/', pathType: 'Prefix', backend: { service: { name: 'load', port: { name: 'http' } } } },
                  ],
                },
              },
            ],
          },
        },
      ]
        .map((d) => JSON.stringify(d))
        .join('\n---\n'),
    );
    await waitFor(
      'both load pods answering through the ingress',
      () => {
        const seen = new Set<string>();
        for (let i = 0; i < 8; i++) seen.add(get('load.example.com', '/')[1]?.pod ?? '');
        return seen.has('load-1') && seen.has('load-2') ? true : undefined;
      },
      60_000,
      250,
    );
    const stop = join(lab.root, 'stop-load');
    const loop = spawn(
      process.execPath,
      [
        CLI,
        'lab',
        'outside',
        '--',
        'sh',
        '-c',
        `while [ ! -e ${stop} ]; do curl -s -m 5 -w ' %{http_code}\\n' -H 'Host: load.example.com' http://${lb}/ || echo ' 000'; done`,
      ],
      { env: lab.env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    loop.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const ended = new Promise((r) => loop.once('exit', r));
    const lines = () => curlResults(out);
    await waitFor('requests flowing', () => (lines().length >= 20 ? true : undefined), 30_000, 100);
    const load2Ip = lab.pods().find((p) => p.metadata.name === 'load-2')?.status?.podIP ?? '';
    assert.match(load2Ip, /^10\./);
    const endpoints = () => readFileSync(join(lab.dir, 'ingress', 'weft-ingress-1', 'endpoints'), 'utf8');
    const listed = new RegExp(`^routes\\.load\\.http .*${load2Ip.replace(/\./g, '\\.')}:8080`, 'm');
    await waitFor(
      "load-2 in the first ingress pod's endpoint lists",
      () => (listed.test(endpoints()) ? true : undefined),
      30_000,
      100,
    );
    const confBefore = conf();
    lab.must(['delete', '--no-wait', '-f', '-'], { input: JSON.stringify(load2) });
    await waitFor(
      'load-2 gone',
      () => (lab.pods().some((p) => p.metadata.name === 'load-2') ? undefined : true),
      30_000,
      250,
    );
    const mark = lines().length;
    await waitFor(
      '50 more requests after load-2 is gone',
      () => (lines().length >= mark + 50 ? true : undefined),
      60_000,
      100,
    );
    writeFileSync(stop, '');
    await ended;
    const all = lines();
    const failed = all.filter((r) => r.code !== 200 || r.pod === undefined);
    assert.deepEqual(failed, [], `${failed.length} of ${all.length} requests failed`);
    const pods = all.map((r) => r.pod);
    assert.ok(pods.slice(0, mark).includes('load-2'), 'load-2 answered before it was deleted');
    assert.equal(conf(), confBefore, 'nginx.conf unchanged: the endpoint went by the Lua balancer, no reload');
    assert.doesNotMatch(endpoints(), new RegExp(`${load2Ip.replace(/\./g, '\\.')}:`), 'load-2 out of the lists');
    assert.deepEqual([...new Set(pods.slice(mark))], ['load-1'], 'only load-1 answers once load-2 is gone');
  });

  test('an invalid Ingress is refused by apply with the reason and its field, and nothing changes', () => {
    const before = conf();
    const r = lab.weft([
      'apply',
      '-f',
      lab.file(
        'bad.yaml',
        `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bad-path, namespace: ${ROUTES_NAMESPACE}}
spec:
  rules:
  - host: bad.example.com
    http: {paths: [{path: /x, backend: {service: {name: a, port: {number: 80}}}}, {path: nope, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}
`,
      ),
    ]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /spec\.rules\[0\]\.http\.paths\[0\]\.pathType: Required value: pathType must be specified/);
    assert.match(r.stderr, /spec\.rules\[0\]\.http\.paths\[1\]\.path: "nope": must be an absolute path/);
    assert.notEqual(lab.weft(['get', 'ingress', 'bad-path', '-n', ROUTES_NAMESPACE]).status, 0, 'not stored');
    assert.equal(conf(), before, 'nginx.conf unchanged');
  });

  test('an Ingress nginx refuses is reported on its status; the running configuration is kept and later changes still apply', async () => {
    const before = conf();
    const b64 = (p: string) => readFileSync(join(lab.root, p)).toString('base64');
    assert.ok(existsSync(join(lab.root, 'tls1.example.com.crt')), 'made by the TLS test');
    // Valid PEM, so apply accepts it; but the key is tls2's and the certificate tls1's.
    apply(`apiVersion: v1
kind: Secret
metadata: {name: mismatch, namespace: ${ROUTES_NAMESPACE}}
type: kubernetes.io/tls
data: {tls.crt: ${b64('tls1.example.com.crt')}, tls.key: ${b64('tls2.example.com.key')}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: refused, namespace: ${ROUTES_NAMESPACE}}
spec:
  tls: [{hosts: [refused.example.com], secretName: mismatch}]
  rules:
  - host: refused.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}
`);
    const cond = await waitFor(
      'the refusal on the Ingress',
      () => {
        const c = ingress(ROUTES_NAMESPACE, 'refused').status?.conditions?.[0];
        return c?.reason === 'NginxRejected' ? c : undefined;
      },
      30_000,
      250,
    );
    assert.equal(cond.status, 'False');
    assert.match(cond.message, /nginx refused this Ingress \(it is not served\): .*key values mismatch/);
    assert.match(
      lab.must(['get', 'ingress', 'refused', '-n', ROUTES_NAMESPACE, '-o', 'wide']),
      /False: nginx refused this Ingress/,
    );
    assert.equal(conf(), before, 'the running configuration is kept');
    // Its host is not served (the catch-all answers it), the others still are.
    assert.equal(get('refused.example.com', '/')[1]?.pod, 'd');
    assert.equal(get('exact.example.com', '/foo')[1]?.pod, 'a');
    // The refused Ingress does not block later changes.
    apply(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: later, namespace: ${ROUTES_NAMESPACE}}
spec:
  rules:
  - host: later.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: b, port: {number: 80}}}}]}
`);
    await waitFor(
      'the later Ingress served',
      () => (get('later.example.com', '/')[1]?.pod === 'b' ? true : undefined),
      30_000,
      250,
    );
    assert.equal(ingress(ROUTES_NAMESPACE, 'refused').status?.conditions?.[0]?.reason, 'NginxRejected');
  });

  test('weft get secrets prints no data; -o yaml does', () => {
    const table = lab.must(['get', 'secrets', '-n', ROUTES_NAMESPACE]);
    assert.match(table, /^NAME\s+TYPE\s+DATA\s+AGE\n/);
    assert.match(table, /tls1\s+kubernetes\.io\/tls\s+2\s/);
    assert.doesNotMatch(table, /LS0t/, 'no base64 PEM in the table');
    assert.match(lab.must(['get', 'secret', 'tls1', '-n', ROUTES_NAMESPACE, '-o', 'yaml']), /tls\.crt: LS0t/);
  });
});
