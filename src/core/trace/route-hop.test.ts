/**
 * A hop's routing decision from `ip -j` answers recorded in a lab node (nft 1.0.6 era iproute2,
 * Debian 12): a VXLAN route with its neighbour and FDB entry, a host-gw route, a local bridge.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeRoute, routeHopOf } from './route-hop.js';

const routeGet = [
  {
    dst: '10.244.126.3',
    from: '10.244.146.3',
    gateway: '10.244.126.0',
    dev: 'weft.1',
    flags: [],
    cache: [],
    iif: 'cni0',
  },
];
const routeMatch = [
  { dst: 'default', gateway: '10.99.0.254', dev: 'eth0', flags: [] },
  { dst: '10.244.126.0/24', gateway: '10.244.126.0', dev: 'weft.1', protocol: '119', flags: ['onlink'] },
];
const neigh = [
  { dst: '10.244.60.0', lladdr: '0e:77:0a:63:00:02', state: ['PERMANENT'] },
  { dst: '10.244.126.0', lladdr: '0e:77:0a:63:00:03', state: ['PERMANENT'] },
];
const fdb = [
  { mac: '0e:77:0a:63:00:03', dst: '10.99.0.3', flags: ['self'], state: 'permanent' },
  { mac: '0e:77:0a:63:00:02', dst: '10.99.0.2', flags: ['self'], state: 'permanent' },
];
const link = [
  {
    ifname: 'weft.1',
    linkinfo: { info_kind: 'vxlan', info_data: { id: 1, local: '10.99.0.1', link: 'eth0', port: 8472 } },
  },
];

test('route hop: VXLAN: the route, the neighbour entry of its gateway and the FDB entry of that MAC', () => {
  const r = routeHopOf({ routeGet, routeMatch, link, neigh, fdb })!;
  assert.deepEqual(r, {
    prefix: '10.244.126.0/24',
    dev: 'weft.1',
    gateway: '10.244.126.0',
    onlink: true,
    protocol: '119',
    vxlan: { vni: 1, port: 8472, local: '10.99.0.1', mac: '0e:77:0a:63:00:03', remote: '10.99.0.3' },
  });
  assert.equal(
    describeRoute(r),
    "route 10.244.126.0/24 via 10.244.126.0 dev weft.1 onlink (weft's); VXLAN VNI 1: 10.244.126.0 is 0e:77:0a:63:00:03, whose frames go to 10.99.0.3 (outer 10.99.0.1 → 10.99.0.3, UDP 8472)",
  );
});

test('route hop: host-gw and a local bridge: no VXLAN part; missing entries stay unknown', () => {
  const hostGw = routeHopOf({
    routeGet: [{ dst: '10.244.2.5', gateway: '10.99.0.2', dev: 'eth0', flags: [] }],
    routeMatch: [
      { dst: 'default', gateway: '10.99.0.254', dev: 'eth0', flags: [] },
      { dst: '10.244.2.0/24', gateway: '10.99.0.2', dev: 'eth0', protocol: '119', flags: [] },
      { dst: '10.99.0.0/24', dev: 'eth0', protocol: 'kernel', flags: [] },
    ],
    link: [{ ifname: 'eth0', linkinfo: { info_kind: 'veth' } }],
  })!;
  assert.equal(describeRoute(hostGw), "route 10.244.2.0/24 via 10.99.0.2 dev eth0 (weft's)");
  const bridge = routeHopOf({
    routeGet: [{ dst: '10.244.1.5', dev: 'cni0', flags: [] }],
    routeMatch: [{ dst: '10.244.1.0/24', dev: 'cni0', protocol: 'kernel', flags: [] }],
  })!;
  assert.equal(describeRoute(bridge), 'route 10.244.1.0/24 dev cni0 (proto kernel)');
  const noFdb = routeHopOf({ routeGet, routeMatch, link, neigh, fdb: [] })!;
  assert.match(describeRoute(noFdb), /whose frames go to \? \(no FDB entry\)/);
  assert.equal(routeHopOf({ routeGet: undefined, routeMatch: [] }), undefined);
});

test("route hop: the lab gateway's multipath route to a load-balancer address lists its next hops, and claims none of them", () => {
  // Recorded in a lab's segment namespace (two nodes announce 10.99.0.224).
  const r = routeHopOf({
    routeGet: [{ dst: '10.99.0.224', from: '10.99.0.250', gateway: '10.99.0.2', dev: 'ul0', flags: [], iif: 'ul0' }],
    routeMatch: [
      { dst: '10.99.0.0/24', dev: 'ul0', protocol: 'kernel', scope: 'link', prefsrc: '10.99.0.254', flags: [] },
      {
        dst: '10.99.0.224',
        flags: [],
        nexthops: [
          { gateway: '10.99.0.1', dev: 'ul0', weight: 1, flags: [] },
          { gateway: '10.99.0.2', dev: 'ul0', weight: 1, flags: [] },
        ],
      },
    ],
  });
  assert.deepEqual(r, { prefix: '10.99.0.224', dev: 'ul0', onlink: false, nexthops: ['10.99.0.1', '10.99.0.2'] });
  assert.equal(
    describeRoute(r!),
    "route 10.99.0.224 via one of 10.99.0.1, 10.99.0.2 (multipath: by the flow's hash) dev ul0",
  );
});
