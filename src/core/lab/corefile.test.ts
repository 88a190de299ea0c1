import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderCorefile } from './corefile.js';

test("Corefile: kubeadm's plugins, the lab's kubeconfig, domain and TTL; forward only to the lab's upstreams", () => {
  const withUpstreams = renderCorefile({
    domain: 'lab.example',
    kubeconfig: '/labs/a/kube/dns.kubeconfig',
    upstreams: ['10.99.0.249', '10.99.0.248:5353'],
    ttl: 5,
  });
  assert.equal(
    withUpstreams,
    [
      '.:53 {',
      '    errors',
      '    health :8080',
      '    ready :8181',
      '    kubernetes lab.example in-addr.arpa ip6.arpa {',
      '        kubeconfig /labs/a/kube/dns.kubeconfig',
      '        pods insecure',
      '        fallthrough in-addr.arpa ip6.arpa',
      '        ttl 5',
      '    }',
      '    prometheus :9153',
      '    forward . 10.99.0.249 10.99.0.248:5353',
      '    cache 30',
      '    loop',
      '    reload',
      '    loadbalance',
      '}',
      '',
    ].join('\n'),
  );
  const none = renderCorefile({ domain: 'cluster.local', kubeconfig: '/k', upstreams: [], ttl: 5 });
  assert.doesNotMatch(none, /forward/, 'no upstream: other names are refused, nothing is forwarded');
});
