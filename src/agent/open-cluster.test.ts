// `--cluster KIND:ARG` parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClusterSpec } from './open-cluster.js';

test('parseClusterSpec: sqlite:PATH, and refusals that name the flag and the value', () => {
  assert.deepEqual(parseClusterSpec('sqlite:/var/lib/weft/lab/objects.db'), {
    kind: 'sqlite',
    path: '/var/lib/weft/lab/objects.db',
  });
  assert.deepEqual(parseClusterSpec('sqlite:relative/o.db'), { kind: 'sqlite', path: 'relative/o.db' });
  assert.deepEqual(parseClusterSpec('kube'), { kind: 'kube' });
  const refused: Array<[string, RegExp]> = [
    ['/var/lib/objects.db', /--cluster: "\/var\/lib\/objects.db" is not KIND:ARG/],
    ['sqlite:', /--cluster: "sqlite:" is not KIND:ARG/],
    ['kube:~/.kube/config', /--cluster: "kube:~\/.kube\/config": kube takes no argument/],
    ['etcd:x', /--cluster: unknown cluster source kind "etcd"/],
  ];
  for (const [spec, want] of refused) assert.throws(() => parseClusterSpec(spec), want, spec);
});
