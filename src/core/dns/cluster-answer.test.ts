import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice, Service } from '../k8s/objects.js';
import { ClusterIndex } from './cluster-index.js';
import { answerCluster, type ClusterZoneConfig, type PodMode } from './cluster-answer.js';
import type { DnsRecord } from './records.js';

const ZONE = 'cluster.local';

function service(ns: string, name: string, spec: Partial<Service['spec']>): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name, labels: {}, annotations: {} },
    spec: { type: 'ClusterIP', ports: [], sessionAffinity: 'None', ...spec },
  };
}

function slice(
  ns: string,
  svc: string,
  endpoints: Array<{ ip: string; ready?: boolean; hostname?: string }>,
  ports: Array<{ name?: string; port: number; protocol?: 'TCP' | 'UDP' }>,
  addressType: 'IPv4' | 'IPv6' = 'IPv4',
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name: `${svc}-${addressType}`, labels: {}, annotations: {} },
    addressType,
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }),
      ...(e.hostname ? { hostname: e.hostname } : {}),
    })),
    ports: ports.map((p) => ({ protocol: p.protocol ?? 'TCP', port: p.port, ...(p.name ? { name: p.name } : {}) })),
  };
}

function cluster(): ClusterIndex {
  const index = new ClusterIndex(ZONE);
  for (const ns of ['x', 'y', 'kube-system']) index.setNamespace(ns, true);
  index.setService('kube-system', 'kube-dns', service('kube-system', 'kube-dns', { clusterIP: '10.96.0.10' }), []);
  index.setService(
    'y',
    'web',
    service('y', 'web', {
      clusterIP: '10.96.0.20',
      ports: [
        { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 },
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
      ],
    }),
    [slice('y', 'web', [{ ip: '10.244.1.5' }], [{ name: 'http', port: 8080 }])],
  );
  index.setService('y', 'db', service('y', 'db', { clusterIP: 'None' }), [
    slice(
      'y',
      'db',
      [
        { ip: '10.244.1.7', ready: true, hostname: 'db-0' },
        { ip: '10.244.2.8' },
        { ip: '10.244.2.9', ready: false, hostname: 'db-2' },
      ],
      [{ name: 'pg', port: 5432 }],
    ),
  ]);
  index.setService('y', 'peers', service('y', 'peers', { clusterIP: 'None', publishNotReadyAddresses: true }), [
    slice('y', 'peers', [{ ip: '10.244.3.3', ready: false }], []),
  ]);
  index.setService('y', 'v6', service('y', 'v6', { clusterIP: 'fd00:96::20', ports: [] }), []);
  index.setService('y', 'ext', service('y', 'ext', { type: 'ExternalName', externalName: 'db.example.com' }), []);
  index.setService(
    'y',
    'alias',
    service('y', 'alias', { type: 'ExternalName', externalName: 'web.y.svc.cluster.local' }),
    [],
  );
  index.setService('y', 'pending', service('y', 'pending', {}), []);
  index.setService('y', 'idle', service('y', 'idle', { clusterIP: 'None' }), [
    slice('y', 'idle', [{ ip: '10.244.4.4', ready: false }], [{ name: 'pg', port: 5432 }]),
  ]);
  return index;
}

function show(r: DnsRecord): string {
  const d = r.data;
  const data =
    typeof d === 'string'
      ? d
      : Array.isArray(d)
        ? d.join(' ')
        : 'target' in d
          ? `${d.priority} ${d.weight} ${d.port} ${d.target}`
          : 'mname' in d
            ? `${d.mname} ${d.rname} min=${d.minimum}`
            : `${d.cpu}`;
  return `${r.name} ${r.ttl} ${r.type} ${data}`;
}

const SOA = 'cluster.local 5 SOA ns.dns.cluster.local hostmaster.cluster.local min=5';

interface Case {
  name: string;
  q: string;
  type: string;
  pods?: PodMode;
  want?: { rcode: string; answers?: string[]; authorities?: string[]; additionals?: string[]; chase?: string };
  /** undefined: the name is not the cluster's (forward it). */
  forward?: true;
}

const cases: Case[] = [
  {
    name: 'ClusterIP A',
    q: 'web.y.svc.cluster.local',
    type: 'A',
    want: { rcode: 'NOERROR', answers: ['web.y.svc.cluster.local 5 A 10.96.0.20'] },
  },
  {
    name: 'case and trailing dot are kept in the answer, ignored in the lookup',
    q: 'Web.Y.svc.cluster.local.',
    type: 'A',
    want: { rcode: 'NOERROR', answers: ['Web.Y.svc.cluster.local 5 A 10.96.0.20'] },
  },
  {
    name: 'AAAA of an IPv4 Service: NODATA with the SOA',
    q: 'web.y.svc.cluster.local',
    type: 'AAAA',
    want: { rcode: 'NOERROR', authorities: [SOA] },
  },
  {
    name: 'IPv6 ClusterIP AAAA',
    q: 'v6.y.svc.cluster.local',
    type: 'AAAA',
    want: { rcode: 'NOERROR', answers: ['v6.y.svc.cluster.local 5 AAAA fd00:96::20'] },
  },
  {
    name: 'named port SRV, target the Service, its address in additional',
    q: '_http._tcp.web.y.svc.cluster.local',
    type: 'SRV',
    want: {
      rcode: 'NOERROR',
      answers: ['_http._tcp.web.y.svc.cluster.local 5 SRV 0 100 80 web.y.svc.cluster.local'],
      additionals: ['web.y.svc.cluster.local 5 A 10.96.0.20'],
    },
  },
  {
    name: 'UDP named port SRV',
    q: '_dns._udp.web.y.svc.cluster.local',
    type: 'SRV',
    want: {
      rcode: 'NOERROR',
      answers: ['_dns._udp.web.y.svc.cluster.local 5 SRV 0 100 53 web.y.svc.cluster.local'],
      additionals: ['web.y.svc.cluster.local 5 A 10.96.0.20'],
    },
  },
  {
    name: 'wrong protocol for a named port: NXDOMAIN',
    q: '_http._udp.web.y.svc.cluster.local',
    type: 'SRV',
    want: { rcode: 'NXDOMAIN', authorities: [SOA] },
  },
  {
    name: 'SRV at the Service name: every port, weight shared',
    q: 'web.y.svc.cluster.local',
    type: 'SRV',
    want: {
      rcode: 'NOERROR',
      answers: [
        'web.y.svc.cluster.local 5 SRV 0 50 80 web.y.svc.cluster.local',
        'web.y.svc.cluster.local 5 SRV 0 50 53 web.y.svc.cluster.local',
      ],
      additionals: ['web.y.svc.cluster.local 5 A 10.96.0.20'],
    },
  },
  {
    name: 'headless A: ready endpoints only (ready absent counts as ready)',
    q: 'db.y.svc.cluster.local',
    type: 'A',
    want: {
      rcode: 'NOERROR',
      answers: ['db.y.svc.cluster.local 5 A 10.244.1.7', 'db.y.svc.cluster.local 5 A 10.244.2.8'],
    },
  },
  {
    name: 'headless SRV: one per endpoint, target its hostname or dashed address',
    q: '_pg._tcp.db.y.svc.cluster.local',
    type: 'SRV',
    want: {
      rcode: 'NOERROR',
      answers: [
        '_pg._tcp.db.y.svc.cluster.local 5 SRV 0 50 5432 db-0.db.y.svc.cluster.local',
        '_pg._tcp.db.y.svc.cluster.local 5 SRV 0 50 5432 10-244-2-8.db.y.svc.cluster.local',
      ],
      additionals: ['db-0.db.y.svc.cluster.local 5 A 10.244.1.7', '10-244-2-8.db.y.svc.cluster.local 5 A 10.244.2.8'],
    },
  },
  {
    name: 'endpoint hostname A',
    q: 'db-0.db.y.svc.cluster.local',
    type: 'A',
    want: { rcode: 'NOERROR', answers: ['db-0.db.y.svc.cluster.local 5 A 10.244.1.7'] },
  },
  {
    name: 'dashed endpoint name A',
    q: '10-244-2-8.db.y.svc.cluster.local',
    type: 'A',
    want: { rcode: 'NOERROR', answers: ['10-244-2-8.db.y.svc.cluster.local 5 A 10.244.2.8'] },
  },
  {
    name: 'not-ready endpoint hostname: NXDOMAIN',
    q: 'db-2.db.y.svc.cluster.local',
    type: 'A',
    want: { rcode: 'NXDOMAIN', authorities: [SOA] },
  },
  {
    name: 'publishNotReadyAddresses publishes a not-ready endpoint',
    q: 'peers.y.svc.cluster.local',
    type: 'A',
    want: { rcode: 'NOERROR', answers: ['peers.y.svc.cluster.local 5 A 10.244.3.3'] },
  },
  {
    name: 'endpoint of a ClusterIP Service by its dashed name (as CoreDNS)',
    q: '10-244-1-5.web.y.svc.cluster.local',
    type: 'A',
    want: { rcode: 'NOERROR', answers: ['10-244-1-5.web.y.svc.cluster.local 5 A 10.244.1.5'] },
  },
  {
    name: 'ExternalName: CNAME, target left to the server',
    q: 'ext.y.svc.cluster.local',
    type: 'A',
    want: { rcode: 'NOERROR', answers: ['ext.y.svc.cluster.local 5 CNAME db.example.com'], chase: 'db.example.com' },
  },
  {
    name: 'ExternalName asked for its CNAME',
    q: 'ext.y.svc.cluster.local',
    type: 'CNAME',
    want: { rcode: 'NOERROR', answers: ['ext.y.svc.cluster.local 5 CNAME db.example.com'] },
  },
  {
    name: 'ExternalName inside the zone is followed',
    q: 'alias.y.svc.cluster.local',
    type: 'A',
    want: {
      rcode: 'NOERROR',
      answers: ['alias.y.svc.cluster.local 5 CNAME web.y.svc.cluster.local', 'web.y.svc.cluster.local 5 A 10.96.0.20'],
    },
  },
  {
    name: 'headless Service with no ready endpoint: NXDOMAIN (spec 2.4.1)',
    q: 'idle.y.svc.cluster.local',
    type: 'A',
    want: { rcode: 'NXDOMAIN', authorities: [SOA] },
  },
  {
    name: 'Service without a ClusterIP yet: NODATA',
    q: 'pending.y.svc.cluster.local',
    type: 'A',
    want: { rcode: 'NOERROR', authorities: [SOA] },
  },
  {
    name: 'search-path miss (web.y asked in namespace x): NXDOMAIN',
    q: 'web.y.x.svc.cluster.local',
    type: 'A',
    want: { rcode: 'NXDOMAIN', authorities: [SOA] },
  },
  {
    name: 'unknown Service in an existing namespace: NXDOMAIN',
    q: 'nope.y.svc.cluster.local',
    type: 'A',
    want: { rcode: 'NXDOMAIN', authorities: [SOA] },
  },
  {
    name: 'namespace name: empty non-terminal, NODATA',
    q: 'y.svc.cluster.local',
    type: 'A',
    want: { rcode: 'NOERROR', authorities: [SOA] },
  },
  {
    name: 'unknown namespace: NXDOMAIN',
    q: 'zz.svc.cluster.local',
    type: 'A',
    want: { rcode: 'NXDOMAIN', authorities: [SOA] },
  },
  {
    name: 'name of another kind under the zone: NXDOMAIN',
    q: 'foo.cluster.local',
    type: 'A',
    want: { rcode: 'NXDOMAIN', authorities: [SOA] },
  },
  {
    name: 'TXT at a Service: NODATA',
    q: 'web.y.svc.cluster.local',
    type: 'TXT',
    want: { rcode: 'NOERROR', authorities: [SOA] },
  },
  {
    name: 'pod form, insecure',
    q: '10-244-9-9.x.pod.cluster.local',
    type: 'A',
    want: { rcode: 'NOERROR', answers: ['10-244-9-9.x.pod.cluster.local 5 A 10.244.9.9'] },
  },
  {
    name: 'pod form, verified, a pod of x has it',
    q: '10-244-1-5.x.pod.cluster.local',
    type: 'A',
    pods: 'verified',
    want: { rcode: 'NOERROR', answers: ['10-244-1-5.x.pod.cluster.local 5 A 10.244.1.5'] },
  },
  {
    name: 'pod form, verified, no pod of x has it',
    q: '10-244-9-9.x.pod.cluster.local',
    type: 'A',
    pods: 'verified',
    want: { rcode: 'NXDOMAIN', authorities: [SOA] },
  },
  {
    name: 'pod form, disabled',
    q: '10-244-1-5.x.pod.cluster.local',
    type: 'A',
    pods: 'disabled',
    want: { rcode: 'NXDOMAIN', authorities: [SOA] },
  },
  {
    name: 'pod form in an unknown namespace',
    q: '10-244-1-5.zz.pod.cluster.local',
    type: 'A',
    want: { rcode: 'NXDOMAIN', authorities: [SOA] },
  },
  {
    name: 'pod form AAAA of an IPv4 pod: NODATA',
    q: '10-244-1-5.x.pod.cluster.local',
    type: 'AAAA',
    want: { rcode: 'NOERROR', authorities: [SOA] },
  },
  {
    name: 'pod label that is no address',
    q: 'web-0.x.pod.cluster.local',
    type: 'A',
    want: { rcode: 'NXDOMAIN', authorities: [SOA] },
  },
  {
    name: 'PTR of a ClusterIP',
    q: '20.0.96.10.in-addr.arpa',
    type: 'PTR',
    want: { rcode: 'NOERROR', answers: ['20.0.96.10.in-addr.arpa 5 PTR web.y.svc.cluster.local'] },
  },
  {
    name: 'PTR of a headless endpoint with a hostname',
    q: '7.1.244.10.in-addr.arpa',
    type: 'PTR',
    want: { rcode: 'NOERROR', answers: ['7.1.244.10.in-addr.arpa 5 PTR db-0.db.y.svc.cluster.local'] },
  },
  {
    name: 'PTR of a headless endpoint without one',
    q: '8.2.244.10.in-addr.arpa',
    type: 'PTR',
    want: { rcode: 'NOERROR', answers: ['8.2.244.10.in-addr.arpa 5 PTR 10-244-2-8.db.y.svc.cluster.local'] },
  },
  {
    name: 'A at the reverse name of a ClusterIP: NODATA with the reverse zone SOA',
    q: '20.0.96.10.in-addr.arpa',
    type: 'A',
    want: { rcode: 'NOERROR', authorities: ['in-addr.arpa 5 SOA ns.dns.cluster.local hostmaster.cluster.local min=5'] },
  },
  {
    name: 'PTR of an address the cluster does not have: forwarded',
    q: '1.1.1.1.in-addr.arpa',
    type: 'PTR',
    forward: true,
  },
  { name: 'PTR of a ClusterIP Service endpoint: forwarded', q: '5.1.244.10.in-addr.arpa', type: 'PTR', forward: true },
  { name: 'outside the zone: forwarded', q: 'example.com', type: 'A', forward: true },
  {
    name: 'ANY: RFC 8482 minimal answer',
    q: 'web.y.svc.cluster.local',
    type: 'ANY',
    want: { rcode: 'NOERROR', answers: ['web.y.svc.cluster.local 5 HINFO RFC8482'] },
  },
  {
    name: 'ANY of a missing name',
    q: 'nope.y.svc.cluster.local',
    type: 'ANY',
    want: { rcode: 'NXDOMAIN', authorities: [SOA] },
  },
  {
    name: 'schema version',
    q: 'dns-version.cluster.local',
    type: 'TXT',
    want: { rcode: 'NOERROR', answers: ['dns-version.cluster.local 5 TXT 1.1.0'] },
  },
  {
    name: 'apex SOA',
    q: 'cluster.local',
    type: 'SOA',
    want: { rcode: 'NOERROR', answers: [SOA] },
  },
  {
    name: 'apex NS',
    q: 'cluster.local',
    type: 'NS',
    want: { rcode: 'NOERROR', answers: ['cluster.local 5 NS ns.dns.cluster.local'] },
  },
  {
    name: 'the name server has the kube-dns address',
    q: 'ns.dns.cluster.local',
    type: 'A',
    want: { rcode: 'NOERROR', answers: ['ns.dns.cluster.local 5 A 10.96.0.10'] },
  },
];

for (const c of cases) {
  test(`cluster answer: ${c.name}`, () => {
    const cfg: ClusterZoneConfig = { zone: ZONE, ttl: 5, pods: c.pods ?? 'insecure' };
    const got = answerCluster(cluster(), { name: c.q, type: c.type, class: 'IN' }, cfg, {
      serial: 42,
      podNamespaces: (ip) => (ip === '10.244.1.5' ? ['x'] : []),
    });
    if (c.forward) {
      assert.equal(got, undefined);
      return;
    }
    assert.ok(got, 'answered');
    const want = c.want!;
    assert.deepEqual(
      {
        rcode: got.answer.rcode,
        answers: got.answer.answers.map(show),
        authorities: got.answer.authorities.map(show),
        additionals: got.answer.additionals.map(show),
        chase: got.chase,
      },
      {
        rcode: want.rcode,
        answers: want.answers ?? [],
        authorities: want.authorities ?? [],
        additionals: want.additionals ?? [],
        chase: want.chase,
      },
    );
    assert.equal(got.answer.authoritative, true);
  });
}

test('a class other than IN is refused', () => {
  const got = answerCluster(
    cluster(),
    { name: 'web.y.svc.cluster.local', type: 'A', class: 'CH' },
    { zone: ZONE, ttl: 5, pods: 'insecure' },
    { serial: 1 },
  );
  assert.equal(got?.answer.rcode, 'REFUSED');
});

test('the zone and TTL are configurable; the SOA minimum is the TTL', () => {
  const index = new ClusterIndex('k8s.example');
  index.setNamespace('y', true);
  index.setService('y', 'web', service('y', 'web', { clusterIP: '10.96.0.20' }), []);
  const cfg: ClusterZoneConfig = { zone: 'k8s.example', ttl: 30, pods: 'insecure' };
  const a = answerCluster(index, { name: 'web.y.svc.k8s.example', type: 'A', class: 'IN' }, cfg, { serial: 1 });
  assert.deepEqual(a?.answer.answers.map(show), ['web.y.svc.k8s.example 30 A 10.96.0.20']);
  const nx = answerCluster(index, { name: 'web.y.svc.cluster.local', type: 'A', class: 'IN' }, cfg, { serial: 1 });
  assert.equal(nx, undefined);
  const miss = answerCluster(index, { name: 'no.y.svc.k8s.example', type: 'A', class: 'IN' }, cfg, { serial: 7 });
  assert.deepEqual(miss?.answer.authorities.map(show), [
    'k8s.example 30 SOA ns.dns.k8s.example hostmaster.k8s.example min=30',
  ]);
});

test('a CNAME loop inside the zone ends instead of running forever', () => {
  const index = new ClusterIndex(ZONE);
  index.setNamespace('y', true);
  index.setService('y', 'a', service('y', 'a', { type: 'ExternalName', externalName: 'b.y.svc.cluster.local' }), []);
  index.setService('y', 'b', service('y', 'b', { type: 'ExternalName', externalName: 'a.y.svc.cluster.local' }), []);
  const got = answerCluster(
    index,
    { name: 'a.y.svc.cluster.local', type: 'A', class: 'IN' },
    { zone: ZONE, ttl: 5, pods: 'insecure' },
    { serial: 1 },
  );
  assert.equal(got?.answer.rcode, 'NOERROR');
  assert.ok(got.answer.answers.length <= 10, `${got.answer.answers.length} records`);
});
