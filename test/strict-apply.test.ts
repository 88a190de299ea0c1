/**
 * Issue 16 items 8 and 9 in a real lab, through the `weft` CLI as a user runs it:
 *   - each bad manifest (a misspelled field at some depth, a Service field weft does not
 *     implement yet, a status, a 20 MB annotation, 10,001 namespaces) makes `weft apply` fail
 *     naming the document and the field or limit, and stores nothing: every object of the lab
 *     keeps its uid and resourceVersion, and none is added;
 *   - fields a real cluster's manifest carries that weft does not act on are stored as written
 *     and shown by `weft get -o json`;
 *   - `WEFT_LAB=<name> weft lab down` and `weft lab down --lab <name>` remove that lab and leave
 *     another lab of the same root running.
 * Labs of one node each, to keep the machine's two cores for the other tests.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { listNetns, requireRoot, sh } from './support/netns.js';
import { CLI, TestLab } from './support/lab.js';

const NS = 'apiVersion: v1\nkind: Namespace\nmetadata: { name: x }\n';
const good = (name: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: x, labels: { app: ${name} } }\nspec:\n  containers:\n    - name: s\n      ports: [{ containerPort: 80 }]\n`;
const pod = (name: string, meta: string, spec: string, extra = '') =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: x${meta} }\nspec: ${spec}\n${extra}`;
const C = '[{ name: s, ports: [{ containerPort: 80 }] }]';

const badCases: Array<{ name: string; doc: () => string; want: RegExp }> = [
  {
    name: 'misspelled labels',
    doc: () => pod('p1', ', lables: { app: web }', `{ containers: ${C} }`),
    want: /document 2 \(Pod x\/p1\): metadata\.lables: unknown field \(did you mean "labels"\?\)/,
  },
  {
    name: 'misspelled hostNetwork',
    doc: () => pod('p2', '', `{ hostNetwrok: true, containers: ${C} }`),
    want: /document 2 \(Pod x\/p2\): spec\.hostNetwrok: unknown field/,
  },
  {
    name: 'misspelled port protocol',
    doc: () => pod('p3', '', '{ containers: [{ name: s, ports: [{ containerPort: 53, protcol: UDP }] }] }'),
    want: /document 2 \(Pod x\/p3\): spec\.containers\[0\]\.ports\[0\]\.protcol: unknown field/,
  },
  {
    name: 'Service sessionAffinity of an unknown kind',
    doc: () =>
      'apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: x }\nspec: { selector: { app: web }, ports: [{ port: 80 }], sessionAffinity: Cookie }\n',
    want: /document 2 \(Service x\/web\): spec\.sessionAffinity: unsupported value "Cookie" \(supported: None, ClientIP\)/,
  },
  {
    name: 'a Pod status',
    doc: () => pod('p4', '', `{ containers: ${C} }`, 'status: { phase: Running }\n'),
    want: /document 2 \(Pod x\/p4\): status: is written by the node, not by apply/,
  },
  {
    name: 'an unknown policy peer field',
    doc: () =>
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: np, namespace: x }\nspec: { podSelector: {}, ingress: [{ from: [{ podselector: {} }] }] }\n',
    want: /document 2 \(NetworkPolicy x\/np\): spec\.ingress\[0\]\.from\[0\]\.podselector: unknown field/,
  },
  {
    name: 'a 20 MB annotation',
    doc: () => pod('p5', `, annotations: { note: "${'x'.repeat(20 * 1024 * 1024)}" }`, `{ containers: ${C} }`),
    want: /document 2 \(Pod x\/p5\): too large: \d+ bytes as JSON; the limit is 3145728 bytes \(3 MiB\) per object/,
  },
  {
    name: 'annotations over 256 KiB',
    doc: () =>
      pod(
        'p6',
        `, annotations: { a: "${'x'.repeat(200 * 1024)}", b: "${'y'.repeat(100 * 1024)}" }`,
        `{ containers: ${C} }`,
      ),
    want: /document 2 \(Pod x\/p6\): metadata\.annotations: too long: must have at most 262144 bytes in total \(256 KiB\)/,
  },
  {
    name: '10,001 namespaces',
    doc: () =>
      Array.from({ length: 10_001 }, (_, i) => `apiVersion: v1\nkind: Namespace\nmetadata: { name: many${i} }\n`).join(
        '---\n',
      ),
    want: /bad\.yaml: document 10001: too many objects: at most 10000 per apply \(split the manifest\)/,
  },
];

interface Doc {
  kind?: string;
  metadata: { name: string; namespace?: string; uid: string; resourceVersion: string };
}

describe('strict apply and the lab name (one-node labs, vxlan, embedded store)', { timeout: 600_000 }, () => {
  requireRoot();
  const lab = new TestLab('tsa');
  const other = 'tsb';
  const otherPrefix = `weft-lab-${other}-`;
  // The second lab lives in the same root as the first, so choosing the wrong one would remove it.
  const weftWith = (env: Record<string, string>, args: string[]) =>
    sh([process.execPath, CLI, ...args], { env: { ...lab.env, ...env }, timeoutMs: 180_000 });

  /** Every object of the lab with its uid and resourceVersion: unchanged means nothing was stored. */
  const snapshot = (): string[] => {
    const out: string[] = [];
    for (const kind of ['namespaces', 'pods', 'services', 'networkpolicies']) {
      const r = lab.weft(['get', kind, '-A', '-o', 'json']);
      assert.equal(r.status, 0, r.stderr);
      for (const d of (JSON.parse(r.stdout) as { items: Doc[] }).items)
        out.push(
          `${kind}/${d.metadata.namespace ?? ''}/${d.metadata.name} ${d.metadata.uid} ${d.metadata.resourceVersion}`,
        );
    }
    return out.sort();
  };

  before(() => {
    lab.up(['--nodes', '1']);
    lab.must(['apply', '-f', lab.file('base.yaml', `${NS}---\n${good('base')}`)]);
  });
  after(() => {
    weftWith({}, ['lab', 'down', '--name', other]);
    lab.down();
  });

  for (const c of badCases) {
    test(`apply of ${c.name} fails naming the document and the field, and stores nothing`, () => {
      const before = snapshot();
      const r = lab.weft(['apply', '--no-wait', '-f', lab.file('bad.yaml', `${good('fresh')}---\n${c.doc()}`)]);
      assert.notEqual(r.status, 0, 'apply must fail');
      assert.match(r.stderr, c.want);
      assert.ok(r.stderr.length < 100_000, `the error does not echo the input (${r.stderr.length} bytes)`);
      assert.equal(r.stdout, '', 'nothing reported as applied');
      assert.deepEqual(snapshot(), before, 'no object added or changed');
    });
  }

  test("fields a real cluster's Pod carries are stored as written and shown by get -o json", () => {
    const manifest = pod(
      'kept',
      ', ownerReferences: [{ apiVersion: apps/v1, kind: ReplicaSet, name: rs, uid: u1 }]',
      `{ restartPolicy: Always, tolerations: [{ operator: Exists }], containers: [{ name: s, image: "nginx:1.27", command: [sleep], args: ["3600"], env: [{ name: A, value: "1" }], readinessProbe: { tcpSocket: { port: 80 } }, ports: [{ containerPort: 80 }] }] }`,
    );
    lab.must(['apply', '--no-wait', '-f', lab.file('kept.yaml', manifest)]);
    const got = JSON.parse(lab.must(['get', 'pod', 'kept', '-n', 'x', '-o', 'json'])) as {
      metadata: Record<string, unknown>;
      spec: { restartPolicy?: string; tolerations?: unknown; containers: Array<Record<string, unknown>> };
    };
    assert.deepEqual(got.metadata.ownerReferences, [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u1' },
    ]);
    assert.equal(got.spec.restartPolicy, 'Always');
    assert.deepEqual(got.spec.tolerations, [{ operator: 'Exists' }]);
    const [c] = got.spec.containers;
    assert.equal(c?.image, 'nginx:1.27');
    // command, args and env are acted on now (the lab's kubelet runs the program) and stored as written.
    assert.deepEqual(c?.command, ['sleep']);
    assert.deepEqual(c?.args, ['3600']);
    assert.deepEqual(c?.env, [{ name: 'A', value: '1' }]);
    // Acted on now (the lab's kubelet runs it), stored with the API server's defaults.
    assert.deepEqual(c?.readinessProbe, {
      tcpSocket: { port: 80 },
      initialDelaySeconds: 0,
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    });
  });

  const labUp = (name: string) => {
    const r = weftWith({}, ['lab', 'up', '--name', name, '--nodes', '1']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(
      listNetns().some((n) => n.startsWith(`weft-lab-${name}-`)),
      `lab ${name} has namespaces`,
    );
  };
  const assertFirstLabRunning = () => {
    const s = JSON.parse(lab.must(['lab', 'status', '--name', lab.name, '-o', 'json'])) as {
      state: string;
      nodes: Array<{ agent: boolean; runner: boolean }>;
    };
    assert.equal(s.state, 'up');
    assert.ok(s.nodes.length === 1 && s.nodes.every((n) => n.agent && n.runner), 'agent and pod runner still running');
    assert.ok(
      listNetns().some((n) => n.startsWith(lab.prefix)),
      'its namespaces are still there',
    );
    assert.ok(
      lab.pods().some((p) => p.metadata.name === 'base' && p.status.phase === 'Running'),
      'its pod still Running',
    );
  };

  test('WEFT_LAB=<name> weft lab down removes that lab, not the lab "weft" nor another', () => {
    labUp(other);
    const r = weftWith({ WEFT_LAB: other }, ['lab', 'down']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`lab ${other} removed`));
    assert.deepEqual(
      listNetns().filter((n) => n.startsWith(otherPrefix)),
      [],
      `lab ${other} is gone`,
    );
    assertFirstLabRunning();
  });

  test('weft lab down --lab <name> removes that lab even when $WEFT_LAB names another', () => {
    labUp(other);
    // lab.env has WEFT_LAB set to the first lab: the flag must win over it.
    assert.equal(lab.env.WEFT_LAB, lab.name);
    const status = weftWith({}, ['lab', 'status', '--lab', other, '-o', 'json']);
    assert.equal((JSON.parse(status.stdout) as { name: string }).name, other);
    const r = weftWith({}, ['lab', 'down', '--lab', other]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      listNetns().filter((n) => n.startsWith(otherPrefix)),
      [],
      `lab ${other} is gone`,
    );
    assertFirstLabRunning();
  });
});
