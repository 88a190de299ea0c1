// Which Ingresses a controller serves, and the status it wants on them (transition time kept until the verdict flips).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../k8s/parse.js';
import type { Ingress, IngressClass } from '../k8s/objects.js';
import { desiredIngressStatus, servedIngresses } from './status.js';

const objects = parseManifest(`
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: weft}
spec: {controller: weft.dev/ingress}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: other}
spec: {controller: example.com/other}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: by-field, namespace: n}
spec: {ingressClassName: weft, defaultBackend: {service: {name: s, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: by-annotation, namespace: n, annotations: {kubernetes.io/ingress.class: weft}}
spec: {defaultBackend: {service: {name: s, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: other-class, namespace: n}
spec: {ingressClassName: other, defaultBackend: {service: {name: s, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: no-class, namespace: n}
spec: {defaultBackend: {service: {name: s, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: missing-class, namespace: n}
spec: {ingressClassName: gone, defaultBackend: {service: {name: s, port: {number: 80}}}}
`);

test('served: the class (field, else annotation) names an IngressClass of this controller', () => {
  const served = servedIngresses(
    objects.filter((o): o is Ingress => o.kind === 'Ingress'),
    objects.filter((o): o is IngressClass => o.kind === 'IngressClass'),
    'weft.dev/ingress',
  );
  assert.deepEqual(
    served.map((i) => i.metadata.name),
    ['by-field', 'by-annotation'],
  );
});

test('status: addresses sorted; the transition time moves only when status or reason does', () => {
  const first = desiredIngressStatus(undefined, ['10.0.0.2', '10.0.0.1'], { kind: 'configured' }, 'T1');
  assert.deepEqual(first, {
    loadBalancer: { ingress: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }] },
    conditions: [
      {
        type: 'Configured',
        status: 'True',
        reason: 'Configured',
        message: 'in the running nginx configuration',
        lastTransitionTime: 'T1',
      },
    ],
  });
  assert.equal(desiredIngressStatus(first, [], { kind: 'configured' }, 'T2').conditions![0]!.lastTransitionTime, 'T1');
  const rejected = desiredIngressStatus(first, [], { kind: 'rejected', message: 'bad key' }, 'T3');
  assert.deepEqual(rejected.loadBalancer, {});
  assert.deepEqual(rejected.conditions![0], {
    type: 'Configured',
    status: 'False',
    reason: 'NginxRejected',
    message: 'bad key',
    lastTransitionTime: 'T3',
  });
  const incomplete = desiredIngressStatus(rejected, [], { kind: 'incomplete', messages: ['a', 'b'] }, 'T4');
  assert.equal(incomplete.conditions![0]!.lastTransitionTime, 'T4', 'another reason is a transition');
  assert.equal(incomplete.conditions![0]!.message, 'a; b');
});
