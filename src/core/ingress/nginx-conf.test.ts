// The nginx render: deterministic, endpoints as upstreams (ready only) kept out of the text for
// the Lua balancer, 503 for missing backends,
// TLS by SNI with the HTTP redirect, one-label wildcards, and nginx errors traced to their Ingress.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../k8s/parse.js';
import type { EndpointSlice, Ingress, Secret, Service } from '../k8s/objects.js';
import { endpointsBody, mergeEndpointLists } from './nginx-lua.js';
import { nginxQuote, ownerOfNginxError, renderNginxConf, serverName, type RenderInput } from './nginx-conf.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const CRT = b64('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
const KEY = b64('-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n');

const objects = parseManifest(`
apiVersion: v1
kind: Service
metadata: {name: web, namespace: n}
spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: n, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- {addresses: [10.244.1.5], conditions: {ready: true}}
- {addresses: [10.244.0.5], conditions: {ready: true}}
- {addresses: [10.244.2.5], conditions: {ready: false, terminating: true}}
ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: n}
type: kubernetes.io/tls
data: {tls.crt: ${CRT}, tls.key: ${KEY}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site, namespace: n}
spec:
  tls: [{hosts: [secure.example.com], secretName: cert}, {hosts: [other.example.com], secretName: missing}]
  rules:
  - host: secure.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}]}
  - host: "*.apps.example.com"
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: gone, port: {number: 80}}}}]}
`);
const of = <T>(kind: string) => objects.filter((o) => o.kind === kind) as T[];
const input: RenderInput = {
  ingresses: of<Ingress>('Ingress'),
  services: of<Service>('Service'),
  slices: of<EndpointSlice>('EndpointSlice'),
  secrets: of<Secret>('Secret'),
  paths: { prefix: '/p', pid: '/p/nginx.pid', certDir: '/p/certs', modulesDir: '/usr/lib/nginx/modules' },
  ports: { http: 80, https: 443, health: 10254, balancer: 10246 },
};
const r = renderNginxConf(input);

test('deterministic: the same text whatever the order of the inputs', () => {
  const shuffled = renderNginxConf({
    ...input,
    slices: [...input.slices].reverse(),
    ingresses: [...input.ingresses].reverse(),
  });
  assert.equal(shuffled.config, r.config);
});

test('upstreams: the ready endpoints, sorted, no ClusterIP, in the lists for the Lua balancer, not in the text', () => {
  assert.deepEqual(r.endpoints, { 'n.web.http': ['10.244.0.5:8080', '10.244.1.5:8080'] });
  assert.match(
    r.config,
    /upstream n\.web\.http \{\n {4}server 0\.0\.0\.1;\n {4}balancer_by_lua_block \{ weft\.balance\("n\.web\.http"\) \}\n {4}keepalive 32;\n/,
  );
  assert.match(r.config, /location "\/" \{ set \$weft_upstream "n\.web\.http"; proxy_pass http:\/\/n\.web\.http; \}/);
  assert.doesNotMatch(r.config, /10\.244\.|10\.96\.0\.20/);
  assert.match(r.config, /proxy_next_upstream error timeout;/);
  assert.match(r.config, /listen 127\.0\.0\.1:10246;\n {4}location = \/endpoints \{/);
});

test('an endpoint change, even to none, changes the lists and not the configuration (no reload)', () => {
  const slices = input.slices.map((s) => ({
    ...s,
    endpoints: s.endpoints.map((e) => (e.addresses[0] === '10.244.1.5' ? { ...e, conditions: { ready: false } } : e)),
  }));
  const fewer = renderNginxConf({ ...input, slices });
  assert.equal(fewer.config, r.config);
  assert.deepEqual(fewer.endpoints, { 'n.web.http': ['10.244.0.5:8080'] });
  const none = renderNginxConf({ ...input, slices: [] });
  assert.equal(none.config, r.config);
  assert.deepEqual(none.endpoints, { 'n.web.http': [] });
  // A Service that goes away is a configuration change: its paths answer 503 from nginx.conf.
  const gone = renderNginxConf({ ...input, services: [] });
  assert.notEqual(gone.config, r.config);
  assert.deepEqual(gone.endpoints, {});
});

test('the endpoint lists as posted: one sorted line per upstream; merging keeps both sets', () => {
  assert.equal(
    endpointsBody({ 'n.b.80': [], 'n.a.http': ['10.0.0.1:80', '10.0.0.2:80'] }),
    'n.a.http 10.0.0.1:80,10.0.0.2:80\nn.b.80 \n',
  );
  assert.deepEqual(mergeEndpointLists({ a: ['1:1'], b: ['2:2'] }, { b: ['3:3'], c: [] }), {
    a: ['1:1'],
    b: ['3:3'],
    c: [],
  });
});

test('TLS: a 443 server by SNI with the certificate file, HTTP redirects; a missing Secret is reported', () => {
  assert.match(
    r.config,
    /listen 443 ssl;\n {4}server_name secure\.example\.com;\n {4}ssl_certificate "\/p\/certs\/[0-9a-f]{8}-\d+\.pem";/,
  );
  assert.match(
    r.config,
    /server_name secure\.example\.com;\n {4}location \/ \{ return 308 https:\/\/\$host\$request_uri; \}/,
  );
  assert.equal(r.files.length, 1);
  assert.match(r.files[0]!.content, /^-----BEGIN CERTIFICATE-----[\s\S]*-----BEGIN PRIVATE KEY-----/);
  assert.deepEqual(
    r.problems.map((p) => p.message),
    [
      'spec.tls[1].secretName: secret n/missing not found: its hosts are served over HTTP only',
      'service n/gone not found: its paths answer 503',
    ],
  );
});

test('a wildcard is one label; a backend without a Service answers 503; no default backend is 404', () => {
  assert.equal(serverName('*.apps.example.com'), '"~^[^.]+\\.apps\\.example\\.com$"');
  assert.match(r.config, /location "\/" \{ return 503; \} # Prefix \/ of n\/site/);
  assert.match(r.config, /server_name _;\n {4}ssl_reject_handshake on;\n {4}location \/ \{ return 404; \}/);
});

test('quoting: a path cannot end its token', () => {
  assert.equal(nginxQuote('/a"b\\c{;'), '"/a\\"b\\\\c{;"');
});

test("nginx -t errors name their Ingress: by the certificate file, or by the line's owner", () => {
  const file = r.files[0]!.name;
  assert.equal(
    ownerOfNginxError(
      r,
      `nginx: [emerg] cannot load certificate key "/p/certs/${file}": PEM_read_bio_PrivateKey() failed`,
    ),
    'n/site',
  );
  const line = r.config.split('\n').findIndex((l) => l.includes('# Prefix / of n/site')) + 1;
  assert.equal(
    ownerOfNginxError(
      r,
      `nginx: [emerg] unknown directive "x" in /p/nginx.conf:${line}\nnginx: configuration file /p/nginx.conf test failed`,
    ),
    'n/site',
  );
  assert.equal(ownerOfNginxError(r, 'nginx: [emerg] unknown directive "x" in /p/nginx.conf:2'), undefined);
});
