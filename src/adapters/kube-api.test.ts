// The API client's config and paths, without an API server: kubeconfig files as kubectl reads
// them (and every way one can be unusable, named by file and field), in-cluster config, and the
// paths of weft's kinds. The calls themselves are tested against kube-apiserver in test/kube-*.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  inClusterConfig,
  KubeConfigError,
  loadKubeconfig,
  NODE_RESOURCE,
  resourceOf,
  resourcePath,
} from './kube-api.js';

function withDir(body: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-kubeconfig-'));
    try {
      await body(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const YAML_CONFIG = `apiVersion: v1
kind: Config
current-context: lab
clusters:
  - name: other
    cluster: { server: https://10.0.0.1:6443 }
  - name: weft
    cluster:
      server: https://127.0.0.1:6443/
      certificate-authority: pki/ca.pem
contexts:
  - name: lab
    context: { cluster: weft, user: agent }
users:
  - name: agent
    user:
      client-certificate: pki/agent.pem
      client-key: /ABS/pki/agent-key.pem
`;

test(
  'kubeconfig: YAML, the current context, files relative to the kubeconfig, a trailing slash dropped',
  withDir(async (dir) => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'pki'));
    writeFileSync(join(dir, 'pki/ca.pem'), 'CA');
    writeFileSync(join(dir, 'pki/agent.pem'), 'CERT');
    writeFileSync(join(dir, 'pki/agent-key.pem'), 'KEY');
    const path = join(dir, 'config');
    writeFileSync(path, YAML_CONFIG.replace('/ABS', dir));
    const c = await loadKubeconfig(path);
    assert.equal(c.server, 'https://127.0.0.1:6443');
    assert.equal(c.ca?.toString(), 'CA');
    assert.equal(c.cert?.toString(), 'CERT');
    assert.equal(c.key?.toString(), 'KEY');
    assert.equal(c.token, undefined);
  }),
);

test(
  'kubeconfig: JSON with -data fields and a token; a tokenFile',
  withDir(async (dir) => {
    const path = join(dir, 'config.json');
    const doc = {
      'current-context': 'c',
      clusters: [
        {
          name: 'k',
          cluster: {
            server: 'https://[fd00::1]:6443',
            'certificate-authority-data': Buffer.from('CA').toString('base64'),
          },
        },
      ],
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
      users: [{ name: 'u', user: { token: 'abc' } }],
    };
    writeFileSync(path, JSON.stringify(doc));
    const c = await loadKubeconfig(path);
    assert.equal(c.ca?.toString(), 'CA');
    assert.equal(c.token, 'abc');
    writeFileSync(join(dir, 'tok'), 'def\n');
    doc.users[0]!.user = { tokenFile: 'tok' } as never;
    writeFileSync(path, JSON.stringify(doc));
    assert.equal((await loadKubeconfig(path)).tokenFile, join(dir, 'tok'));
  }),
);

test(
  'kubeconfig: every unusable one is a KubeConfigError naming the file and the field',
  withDir(async (dir) => {
    const base = {
      'current-context': 'c',
      clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:6443' } }],
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
      users: [{ name: 'u', user: { token: 't' } }],
    };
    const rows: Array<[string, string | object, RegExp]> = [
      ['not YAML', 'clusters: [oops\n', /: not YAML or JSON: /],
      ['a list', '[1, 2]\n', /: must be a mapping/],
      ['no current context', { ...base, 'current-context': undefined }, /: current-context: not set/],
      ['an unknown context', { ...base, 'current-context': 'nope' }, /: contexts: no entry named "nope"/],
      [
        'an unknown cluster',
        { ...base, contexts: [{ name: 'c', context: { cluster: 'zz', user: 'u' } }] },
        /: clusters: no entry named "zz"/,
      ],
      [
        'a server that is not a URL',
        { ...base, clusters: [{ name: 'k', cluster: { server: '127.0.0.1:6443' } }] },
        /: clusters\[0\]\.cluster\.server: must be an https:\/\/ URL/,
      ],
      [
        'a CA file that is not there',
        { ...base, clusters: [{ name: 'k', cluster: { server: 'https://a:1', 'certificate-authority': 'nope.pem' } }] },
        /: clusters\[0\]\.cluster\.certificate-authority: cannot read .*nope\.pem/,
      ],
      [
        'an exec plugin',
        { ...base, users: [{ name: 'u', user: { exec: { command: 'aws' } } }] },
        /: users\[0\]\.user\.exec: not supported by weft/,
      ],
      [
        'basic auth',
        { ...base, users: [{ name: 'u', user: { username: 'a', password: 'b' } }] },
        /: users\[0\]\.user\.username: not supported/,
      ],
      [
        'a certificate without its key',
        { ...base, users: [{ name: 'u', user: { 'client-certificate-data': 'QQ==' } }] },
        /: users\[0\]\.user: a client certificate needs its key/,
      ],
    ];
    for (const [name, content, want] of rows) {
      const path = join(dir, 'config');
      writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
      await assert.rejects(
        loadKubeconfig(path),
        (e: unknown) =>
          e instanceof KubeConfigError && want.test(e.message) && e.message.startsWith(`kubeconfig ${path}`),
        name,
      );
    }
    await assert.rejects(loadKubeconfig(join(dir, 'absent')), /kubeconfig .*absent: cannot read it/);
  }),
);

test(
  'in-cluster config: the service host and port, the ServiceAccount token and CA; without them a clear error',
  withDir(async (dir) => {
    writeFileSync(join(dir, 'token'), 'tok');
    writeFileSync(join(dir, 'ca.crt'), 'CA');
    const c = inClusterConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    assert.equal(c.server, 'https://10.96.0.1:443');
    assert.equal(c.tokenFile, join(dir, 'token'));
    assert.equal(c.ca?.toString(), 'CA');
    assert.equal(
      inClusterConfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir).server,
      'https://[fd00::1]:443',
    );
    assert.throws(() => inClusterConfig({}, dir), /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set/);
    assert.throws(
      () => inClusterConfig({ KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, join(dir, 'none')),
      /in-cluster config: .*token/,
    );
  }),
);

test('resource paths of weft kinds and Node', () => {
  const rows: Array<[string, string]> = [
    [resourcePath(resourceOf('Pod')), '/api/v1/pods'],
    [resourcePath(resourceOf('Pod'), { namespace: 'x' }), '/api/v1/namespaces/x/pods'],
    [
      resourcePath(resourceOf('Pod'), { namespace: 'x', name: 'a', subresource: 'status' }),
      '/api/v1/namespaces/x/pods/a/status',
    ],
    [resourcePath(resourceOf('Namespace'), { name: 'x' }), '/api/v1/namespaces/x'],
    [
      resourcePath(resourceOf('NetworkPolicy'), { namespace: 'x' }),
      '/apis/networking.k8s.io/v1/namespaces/x/networkpolicies',
    ],
    [resourcePath(resourceOf('EndpointSlice')), '/apis/discovery.k8s.io/v1/endpointslices'],
    [resourcePath(resourceOf('Service'), { namespace: 'x', name: 'a b' }), '/api/v1/namespaces/x/services/a%20b'],
    [resourcePath(NODE_RESOURCE, { name: 'n1' }), '/api/v1/nodes/n1'],
  ];
  for (const [got, want] of rows) assert.equal(got, want);
  assert.throws(() => resourcePath(NODE_RESOURCE, { namespace: 'x' }), /Node is cluster-scoped/);
  assert.throws(() => resourcePath(resourceOf('Pod'), { subresource: 'status' }), /a subresource needs a name/);
});
