import { parseNetConf } from '../flannel/net-conf.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checkOutsideAddress,
  clusterDnsIp,
  DEFAULT_LB_CIDR,
  DEFAULT_OUTSIDE_ADDRESS,
  labNetConf,
  lbCidrOf,
  LabSpecError,
  MAX_LAB_NODES,
  nodeSegment,
  nodeUnderlayAddress,
  parseLabUpOptions,
  peerOfNode,
  segmentCidr,
  segmentGateway,
  segmentOfAddress,
  segmentRouter,
  serviceRangesOf,
  type LabUpOptions,
} from './lab-spec.js';
import { labNamespacePrefix, labPodNamespace } from '../names.js';

test('defaults: lab weft, 3 nodes, vxlan, embedded store, 10.244.0.0/16', () => {
  assert.deepEqual(parseLabUpOptions({}), {
    name: 'weft',
    nodes: 3,
    backend: 'vxlan',
    store: { kind: 'embedded' },
    network: '10.244.0.0/16',
    serviceCidr: '10.96.0.0/12',
    lbCidr: '10.99.0.224/28',
    dns: { domain: 'cluster.local', replicas: 2, upstreams: [] },
  });
});

test('cluster DNS: kube-dns at the tenth address of the service range; domain, replicas and upstreams checked', () => {
  assert.equal(clusterDnsIp(parseLabUpOptions({})), '10.96.0.10');
  assert.equal(clusterDnsIp(parseLabUpOptions({ serviceCidr: '10.100.8.0/24' })), '10.100.8.10');
  assert.deepEqual(
    parseLabUpOptions({
      clusterDomain: 'Lab.Example.',
      dnsReplicas: '0',
      dnsUpstream: ['10.99.0.249', '10.99.0.248:5353'],
    }).dns,
    { domain: 'lab.example', replicas: 0, upstreams: ['10.99.0.249', '10.99.0.248:5353'] },
  );
  for (const [o, why] of [
    [{ clusterDomain: 'bad_domain' }, '--cluster-domain: "bad_domain": '],
    [{ clusterDomain: '.' }, '--cluster-domain: ".": must not be empty'],
    [{ dnsReplicas: '-1' }, '--dns-replicas: "-1" must be a whole number from 0'],
    [{ dnsReplicas: '11' }, '--dns-replicas: "11"'],
    [{ dnsUpstream: ['resolver'] }, '--dns-upstream "resolver": not an IP address'],
    [{ dnsUpstream: ['10.0.0.1:0'] }, '--dns-upstream "10.0.0.1:0": port must be between 1 and 65535'],
  ] as const)
    assert.throws(
      () => parseLabUpOptions(o as LabUpOptions),
      (e: Error) => e instanceof LabSpecError && e.message.startsWith(why),
      JSON.stringify(o),
    );
});

test('--dns: weft by default; coredns only with --api kube and some replicas', () => {
  assert.equal(parseLabUpOptions({ dns: 'weft' }).dns?.server, undefined);
  assert.equal(parseLabUpOptions({ api: 'kube', dns: 'coredns' }).dns?.server, 'coredns');
  for (const [o, why] of [
    [{ dns: 'bind' }, '--dns: "bind" must be weft (weft dns) or coredns'],
    [{ dns: 'coredns' }, '--dns coredns: needs --api kube'],
    [{ dns: 'coredns', api: 'kube', dnsReplicas: '0' }, '--dns coredns: --dns-replicas 0 runs no DNS pods'],
  ] as const)
    assert.throws(
      () => parseLabUpOptions(o as LabUpOptions),
      (e: Error) => e instanceof LabSpecError && e.message.startsWith(why),
      JSON.stringify(o),
    );
});

test('--lb-cidr: a block of the underlay segment clear of nodes, gateway, router and the default outside client', () => {
  assert.equal(parseLabUpOptions({ lbCidr: '10.99.0.100/30', nodes: 3 }).lbCidr, '10.99.0.100/30');
  assert.equal(parseLabUpOptions({ lbCidr: '10.99.0.101/30' }).lbCidr, '10.99.0.100/30', 'host bits dropped');
  for (const [cidr, nodes, why] of [
    ['10.98.0.0/28', 3, "must be a block of the lab's underlay segment 10.99.0.0/24"],
    ['10.99.0.0/23', 3, "must be a block of the lab's underlay segment"],
    ['10.99.0.0/28', 3, "holds the segment's network address"],
    ['10.99.0.8/29', 10, 'holds node n8 (10.99.0.8)'],
    ['10.99.0.248/30', 3, 'holds the default outside client (10.99.0.250)'],
    ['10.99.0.252/30', 3, 'holds the router to the other segments (10.99.0.253)'],
    ['10.99.0.254/32', 3, "holds the segment's gateway (10.99.0.254)"],
    ['fd00::/120', 3, 'must be a block'],
    ['pool', 3, '--lb-cidr: '],
  ] as const)
    assert.throws(
      () => parseLabUpOptions({ lbCidr: cidr, nodes }),
      (e: Error) => e.message.startsWith('--lb-cidr: ') && e.message.includes(why),
      cidr,
    );
  assert.equal(serviceRangesOf(parseLabUpOptions({})).lbCidr, '10.99.0.224/28');
  const { lbCidr: _, ...old } = parseLabUpOptions({});
  assert.equal(lbCidrOf(old), DEFAULT_LB_CIDR, 'a lab recorded before --lb-cidr gets the default');
});

test('outside client addresses: free addresses of the segment only', () => {
  const spec = parseLabUpOptions({ nodes: 3 });
  assert.equal(checkOutsideAddress(spec, DEFAULT_OUTSIDE_ADDRESS), '10.99.0.250');
  assert.equal(checkOutsideAddress(spec, '10.99.0.4'), '10.99.0.4', 'above the last node');
  for (const [address, why] of [
    ['10.99.0.2', 'is node n2 (10.99.0.2), not free'],
    ['10.99.0.254', "is the segment's gateway"],
    ['10.99.0.255', "is the segment's broadcast address"],
    ['10.99.0.230', "is in the lab's load-balancer pool 10.99.0.224/28"],
    ['192.0.2.1', "is not on the lab's underlay segment 10.99.0.0/24"],
    ['fd00::1', 'is not an IPv4 address'],
    ['banana', 'is not an IPv4 address'],
  ] as const)
    assert.throws(
      () => checkOutsideAddress(spec, address),
      (e: Error) => e.message.startsWith('--address: ') && e.message.includes(why),
      address,
    );
});

test('--service-cidr: an IPv4 /12 to /28 apart from the pod network; the underlay inside it is held back', () => {
  assert.equal(parseLabUpOptions({ serviceCidr: '10.100.5.0/24' }).serviceCidr, '10.100.5.0/24');
  assert.equal(parseLabUpOptions({ serviceCidr: '10.100.5.7/24' }).serviceCidr, '10.100.5.0/24');
  for (const [cidr, why] of [
    ['10.0.0.0/8', 'must be a /12 to /28'],
    ['10.96.0.0/29', 'must be a /12 to /28'],
    ['fd00::/112', 'must be an IPv4 range'],
    ['10.244.0.0/20', 'overlaps the pod network'],
    ['banana', '--service-cidr: '],
  ] as const)
    assert.throws(
      () => parseLabUpOptions({ serviceCidr: cidr }),
      (e: Error) => e.message.includes(why),
      cidr,
    );
  assert.deepEqual(serviceRangesOf(parseLabUpOptions({})).reserved, ['10.99.0.0/24']);
});

test("stores: etcd is started by the lab, etcd=URL[,URL] is the user's", () => {
  assert.deepEqual(parseLabUpOptions({ store: 'etcd' }).store, { kind: 'etcd', managed: true });
  assert.deepEqual(parseLabUpOptions({ store: 'etcd=http://10.99.0.254:2379, http://10.99.0.253:2379' }).store, {
    kind: 'etcd',
    managed: false,
    endpoints: ['http://10.99.0.254:2379', 'http://10.99.0.253:2379'],
  });
});

const bad: Array<[string, LabUpOptions, RegExp]> = [
  [
    "a name with a dash (it would overlap another lab's prefix)",
    { name: 'my-lab' },
    /^--name: "my-lab" is not a valid lab name/,
  ],
  ['an upper-case name', { name: 'Lab' }, /^--name:/],
  ['zero nodes', { nodes: '0' }, /^--nodes: "0" must be a whole number from 1 to 200/],
  ['a fractional node count', { nodes: '2.5' }, /^--nodes:/],
  ['too many nodes', { nodes: '201' }, /^--nodes:/],
  ['an unknown backend', { backend: 'ipip' }, /^--backend: "ipip" is not a backend \(use vxlan, host-gw, udp or bgp\)/],
  ['an unknown bgp peering', { backend: 'bgp', bgpPeer: 'ring' }, /^--bgp-peer: "ring" must be mesh or router/],
  ['--bgp-peer without bgp', { bgpPeer: 'mesh' }, /^--bgp-peer: only applies to the bgp backend .* not vxlan/],
  [
    'router peering on one segment',
    { backend: 'bgp', bgpPeer: 'router' },
    /^--bgp-peer router: .*--segments 2 or more/,
  ],
  ['an unknown api', { api: 'openshift' }, /^--api: "openshift" must be embedded .* or kube/],
  [
    '--api kube with an etcd store',
    { api: 'kube', store: 'etcd' },
    /^--store: "etcd" cannot be combined with --api kube/,
  ],
  ['an unknown store', { store: 'redis' }, /^--store: "redis" is not a store/],
  ['etcd= without a URL', { store: 'etcd=' }, /^--store: etcd= needs at least one URL/],
  ['an https etcd', { store: 'etcd=https://x:2379' }, /only http:\/\//],
  ['a bad network', { network: '10.244.0.0/33' }, /^--network: invalid CIDR/],
  ['an IPv6 network', { network: 'fd00::/48' }, /^--network: "fd00::\/48" must be an IPv4 network/],
  ['a network too small for /24 node subnets', { network: '10.1.0.0/24' }, /^--network: "10.1.0.0\/24" is too small/],
];
for (const [name, opts, want] of bad) {
  test(`refused: ${name}`, () => {
    assert.throws(
      () => parseLabUpOptions(opts),
      (err: unknown) => err instanceof LabSpecError && want.test(err.message),
    );
  });
}

test('net-conf: the network with /24 node subnets and the backend', () => {
  assert.deepEqual(JSON.parse(labNetConf(parseLabUpOptions({ backend: 'host-gw', network: '10.50.0.0/16' }))), {
    Network: '10.50.0.0/16',
    SubnetLen: 24,
    Backend: { Type: 'host-gw' },
  });
});

test("names: one lab's prefix is never a prefix of another lab's namespaces", () => {
  assert.ok(!labPodNamespace('ab', 'x', 'a').startsWith(labNamespacePrefix('a')));
  assert.equal(labPodNamespace('weft', 'x', 'a'), 'weft-lab-weft-pod.x.a');
});

test('address plan, one segment: node i at 10.99.0.i, as always', () => {
  for (const i of [1, 2, 3, 9, 200]) {
    assert.equal(nodeUnderlayAddress(i), `10.99.0.${i}`);
    assert.equal(nodeUnderlayAddress(i, 1), `10.99.0.${i}`);
    assert.equal(nodeSegment(i), 0);
  }
  assert.equal(parseLabUpOptions({}).segments, undefined, 'a one-segment spec records no segments');
  assert.deepEqual(parseLabUpOptions({ segments: '1' }), parseLabUpOptions({}));
  assert.deepEqual(parseLabUpOptions({ directRouting: false }), parseLabUpOptions({}));
  assert.deepEqual(serviceRangesOf(parseLabUpOptions({ segments: 1 })).reserved, ['10.99.0.0/24']);
});

test('address plan, K segments: node i on segment (i-1) mod K at 10.99.<segment>.i', () => {
  const rows: Array<[number, number, string, number]> = [
    [1, 2, '10.99.0.1', 0],
    [2, 2, '10.99.1.2', 1],
    [3, 2, '10.99.0.3', 0],
    [4, 2, '10.99.1.4', 1],
    [3, 3, '10.99.2.3', 2],
    [4, 3, '10.99.0.4', 0],
    [8, 4, '10.99.3.8', 3],
    [200, 4, '10.99.3.200', 3],
  ];
  for (const [i, k, ip, seg] of rows) {
    assert.equal(nodeUnderlayAddress(i, k), ip, `n${i} of ${k}`);
    assert.equal(nodeSegment(i, k), seg, `n${i} of ${k}`);
    assert.equal(segmentOfAddress(ip, k), seg, ip);
  }
  assert.deepEqual(
    [0, 1, 2, 3].map((k) => [segmentCidr(k), segmentGateway(k), segmentRouter(k)]),
    [
      ['10.99.0.0/24', '10.99.0.254', '10.99.0.253'],
      ['10.99.1.0/24', '10.99.1.254', '10.99.1.253'],
      ['10.99.2.0/24', '10.99.2.254', '10.99.2.253'],
      ['10.99.3.0/24', '10.99.3.254', '10.99.3.253'],
    ],
  );
  assert.equal(segmentOfAddress('10.99.1.2', 1), undefined, 'a one-segment lab has no 10.99.1.0/24');
  assert.equal(segmentOfAddress('192.0.2.1', 4), undefined);
  assert.throws(() => segmentCidr(4), /segment 4: no such segment \(0 to 3\)/);
  assert.throws(() => nodeUnderlayAddress(0, 2), /node 0: no such node/);
  assert.throws(() => nodeSegment(1, 0), /0 segments: a lab has 1 to 4/);
  assert.throws(() => nodeSegment(1, 5), /5 segments: a lab has 1 to 4/);
  assert.deepEqual(serviceRangesOf(parseLabUpOptions({ segments: '3' })).reserved, [
    '10.99.0.0/24',
    '10.99.1.0/24',
    '10.99.2.0/24',
  ]);
});

test('address plan invariants: every node on its segment, addresses unique, segments filled round-robin', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: MAX_LAB_NODES }), (k, nodes) => {
      const ips = Array.from({ length: nodes }, (_, j) => nodeUnderlayAddress(j + 1, k));
      assert.equal(new Set(ips).size, nodes);
      const counts = new Array<number>(k).fill(0);
      ips.forEach((ip, j) => {
        const seg = segmentOfAddress(ip, k);
        assert.equal(seg, nodeSegment(j + 1, k));
        assert.equal(ip.split('.')[3], String(j + 1), 'the last octet is the node number');
        counts[seg!]!++;
      });
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1);
    }),
  );
});

test('--segments and --direct-routing: recorded when set; refused with the flag and the reason', () => {
  assert.equal(parseLabUpOptions({ segments: '2' }).segments, 2);
  assert.equal(parseLabUpOptions({ segments: 4 }).segments, 4);
  assert.equal(parseLabUpOptions({ directRouting: true }).directRouting, true);
  for (const [o, why] of [
    [{ segments: '0' }, '--segments: "0" must be a whole number from 1 to 4'],
    [{ segments: '5' }, '--segments: "5" must be a whole number from 1 to 4'],
    [{ segments: '1.5' }, '--segments: "1.5"'],
    [{ segments: 'two' }, '--segments: "two"'],
    [{ directRouting: true, backend: 'host-gw' }, '--direct-routing: only applies to the vxlan backend'],
  ] as const)
    assert.throws(
      () => parseLabUpOptions(o as LabUpOptions),
      (e: Error) => e instanceof LabSpecError && e.message.startsWith(why),
      JSON.stringify(o),
    );
  assert.deepEqual(JSON.parse(labNetConf(parseLabUpOptions({ directRouting: true }))).Backend, {
    Type: 'vxlan',
    DirectRouting: true,
  });
});

test('bgp: mesh by default; --bgp-peer router gives the nodes the router leg of every segment, and net-conf accepts it', () => {
  const mesh = parseLabUpOptions({ backend: 'bgp' });
  assert.equal(mesh.bgpPeer, undefined);
  assert.deepEqual(JSON.parse(labNetConf(mesh)).Backend, { Type: 'bgp' });
  const router = parseLabUpOptions({ backend: 'bgp', bgpPeer: 'router', segments: 3 });
  assert.equal(router.bgpPeer, 'router');
  const text = labNetConf(router);
  assert.deepEqual(JSON.parse(text).Backend, {
    Type: 'bgp',
    Peering: 'router',
    RouterAddress: ['10.99.0.253', '10.99.1.253', '10.99.2.253'],
  });
  assert.deepEqual(parseNetConf(text).backend.bgp?.routerAddresses, ['10.99.0.253', '10.99.1.253', '10.99.2.253']);
});

test('segment 0 with K segments: only its own nodes hold addresses; the pool and outside clients may use the rest', () => {
  const spec = parseLabUpOptions({ nodes: 4, segments: 2 });
  assert.equal(checkOutsideAddress(spec, '10.99.0.2'), '10.99.0.2', 'n2 is on segment 1');
  assert.throws(() => checkOutsideAddress(spec, '10.99.0.3'), /is node n3 \(10.99.0.3\)/);
  assert.throws(() => checkOutsideAddress(spec, '10.99.1.9'), /not on the lab's underlay segment 10.99.0.0\/24/);
  assert.throws(() => checkOutsideAddress(spec, '10.99.0.253'), /is the router to the other segments/);
  assert.throws(
    () => parseLabUpOptions({ nodes: 4, segments: 2, lbCidr: '10.99.0.0/29' }),
    /holds the segment's network address/,
  );
  assert.throws(() => parseLabUpOptions({ nodes: 4, segments: 2, lbCidr: '10.99.0.2/31' }), /holds node n3/);
  assert.equal(parseLabUpOptions({ nodes: 4, segments: 4, lbCidr: '10.99.0.2/31' }).lbCidr, '10.99.0.2/31');
});

test('--no-flow-log and --flow-log-capacity: recorded when set; a bad capacity refused with the flag', () => {
  assert.deepEqual(parseLabUpOptions({ flowLog: true }), parseLabUpOptions({}), 'the default is not recorded');
  assert.equal(parseLabUpOptions({ flowLog: false }).flowLog, false);
  assert.equal(parseLabUpOptions({ flowLogCapacity: '50' }).flowLogCapacity, 50);
  for (const bad of ['0', '-1', '2.5', 'many', '1000001'])
    assert.throws(
      () => parseLabUpOptions({ flowLogCapacity: bad }),
      (e: Error) => e instanceof LabSpecError && e.message.startsWith(`--flow-log-capacity: "${bad}"`),
      bad,
    );
});

test('--api kube is recorded, with an ingress controller too; the embedded API is the default and not recorded', () => {
  assert.equal(parseLabUpOptions({ api: 'kube' }).api, 'kube');
  assert.equal('api' in parseLabUpOptions({}), false);
  assert.equal('api' in parseLabUpOptions({ api: 'embedded' }), false);
  assert.deepEqual(parseLabUpOptions({ api: 'kube', ingressReplicas: '1' }).ingress, { replicas: 1 });
});

test('--ingress-replicas: absent or 0 records nothing; 1-10 records the pods; anything else is refused', () => {
  assert.equal(parseLabUpOptions({}).ingress, undefined);
  assert.equal(parseLabUpOptions({ ingressReplicas: '0' }).ingress, undefined);
  assert.deepEqual(parseLabUpOptions({ ingressReplicas: '2' }).ingress, { replicas: 2 });
  for (const bad of ['11', '-1', 'two', '1.5'])
    assert.throws(
      () => parseLabUpOptions({ ingressReplicas: bad }),
      /^LabSpecError: --ingress-replicas: ".*" must be a whole number from 0 \(no ingress controller\) to 10$/,
      bad,
    );
});

test('--peer flannel=NODES: the named nodes run flanneld; recorded in node order, absent without --peer', () => {
  assert.equal(parseLabUpOptions({}).peers, undefined);
  assert.deepEqual(parseLabUpOptions({ store: 'etcd', peer: ['flannel=n3,n1'] }).peers, { flannel: ['n1', 'n3'] });
  assert.deepEqual(
    parseLabUpOptions({ store: 'etcd', backend: 'host-gw', nodes: 4, peer: ['flannel=n2', 'flannel=n4'] }).peers,
    { flannel: ['n2', 'n4'] },
  );
  assert.deepEqual(
    parseLabUpOptions({ store: 'etcd=http://10.99.0.254:2379', peer: ['flannel=n2'] }).peers,
    { flannel: ['n2'] },
    "a user's etcd works too",
  );
  assert.deepEqual(
    parseLabUpOptions({ api: 'kube', backend: 'host-gw', peer: ['flannel=n2'] }),
    { ...parseLabUpOptions({ api: 'kube', backend: 'host-gw' }), peers: { flannel: ['n2'] } },
    'with --api kube (flanneld in kube-subnet-mgr mode) on the default embedded store, nothing else changes',
  );
});

test('--peer: bad input is refused with the flag and the reason', () => {
  for (const [name, o, want] of [
    ['unknown peer kind', { store: 'etcd', peer: ['calico=n1'] }, /--peer: "calico" is not a peer \(use flannel=NODE/],
    ['no nodes', { store: 'etcd', peer: ['flannel'] }, /--peer flannel: name the nodes that run flannel/],
    ['empty node', { store: 'etcd', peer: ['flannel=n1,'] }, /name the nodes/],
    [
      'unknown node',
      { store: 'etcd', peer: ['flannel=n4'] },
      /--peer flannel=n4: the lab has no node "n4" \(its nodes are n1 to n3\)/,
    ],
    ['not a node name', { store: 'etcd', peer: ['flannel=node1'] }, /no node "node1"/],
    ['n0', { store: 'etcd', peer: ['flannel=n0'] }, /no node "n0"/],
    ['a node twice', { store: 'etcd', peer: ['flannel=n1', 'flannel=n1'] }, /node n1 is named twice/],
    [
      'embedded store without --api kube',
      { peer: ['flannel=n2'] },
      /--peer: flanneld needs a datastore it shares with weft: --store etcd \(its etcd mode\) or --api kube/,
    ],
    [
      'kube api on the udp backend',
      { api: 'kube', backend: 'udp', peer: ['flannel=n2'] },
      /vxlan or host-gw only, not udp/,
    ],
    ['bgp backend', { store: 'etcd', backend: 'bgp', peer: ['flannel=n2'] }, /not bgp \(flanneld has no bgp backend\)/],
    ['udp backend', { store: 'etcd', backend: 'udp', peer: ['flannel=n2'] }, /vxlan or host-gw only, not udp/],
  ] as const) {
    assert.throws(
      () => parseLabUpOptions(o as unknown as LabUpOptions),
      (err: Error) => err instanceof LabSpecError && want.test(err.message),
      name,
    );
  }
});

test('peerOfNode: the peer a node runs, undefined for weft nodes and labs without peers', () => {
  const spec = parseLabUpOptions({ store: 'etcd', peer: ['flannel=n2'] });
  assert.equal(peerOfNode(spec, 'n2'), 'flannel');
  assert.equal(peerOfNode(spec, 'n1'), undefined);
  assert.equal(peerOfNode(parseLabUpOptions({}), 'n2'), undefined);
});

test('--services: weft by default (not recorded), kube-proxy only with --api kube, anything else refused', () => {
  assert.equal(parseLabUpOptions({}).services, undefined);
  assert.equal(parseLabUpOptions({ services: 'weft' }).services, undefined);
  assert.equal(parseLabUpOptions({ api: 'kube', services: 'kube-proxy' }).services, 'kube-proxy');
  assert.equal(
    parseLabUpOptions({ api: 'kube', services: 'kube-proxy', peer: ['flannel=n2'] }).services,
    'kube-proxy',
    'beside flanneld too (it programs no Services)',
  );
  // kube-proxy drops traffic to unallocated addresses of the Service CIDR: the lab's usual
  // 10.96.0.0/12 holds the underlay, so such a lab defaults to a /16 and refuses a range over it.
  assert.equal(parseLabUpOptions({ api: 'kube', services: 'kube-proxy' }).serviceCidr, '10.96.0.0/16');
  assert.equal(parseLabUpOptions({ api: 'kube' }).serviceCidr, '10.96.0.0/12', "weft's Services keep the default");
  assert.equal(
    parseLabUpOptions({ api: 'kube', services: 'kube-proxy', serviceCidr: '10.100.0.0/16' }).serviceCidr,
    '10.100.0.0/16',
  );
  for (const [name, o, want] of [
    [
      'kube-proxy with a Service CIDR over the underlay',
      { api: 'kube', services: 'kube-proxy', serviceCidr: '10.96.0.0/12' },
      /--service-cidr: "10\.96\.0\.0\/12" overlaps the underlay 10\.99\.0\.0\/24 .*kube-proxy drops traffic/,
    ],
    [
      'kube-proxy with a Service CIDR over a second segment',
      { api: 'kube', services: 'kube-proxy', segments: 2, serviceCidr: '10.99.1.0/24' },
      /overlaps the underlay 10\.99\.1\.0\/24/,
    ],
    ['an unknown proxy', { api: 'kube', services: 'ipvs' }, /--services: "ipvs" must be weft .* or kube-proxy/],
    ['kube-proxy without the API', { services: 'kube-proxy' }, /--services kube-proxy: needs --api kube/],
    [
      'kube-proxy with an etcd store and no API',
      { store: 'etcd', services: 'kube-proxy' },
      /--services kube-proxy: needs --api kube/,
    ],
  ] as const)
    assert.throws(
      () => parseLabUpOptions(o as unknown as LabUpOptions),
      (err: Error) => err instanceof LabSpecError && want.test(err.message),
      name,
    );
});
