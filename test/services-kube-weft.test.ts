/**
 * weft's Services on a real API server (`weft lab up --api kube`): the proxy scenarios of the
 * Services suite (PROXY_SCENARIOS, test/support/services-suite.ts) with weft's agents reading
 * Services and EndpointSlices from kube-apiserver and kube-controller-manager. The baseline of
 * test/services-kube-proxy.test.ts: same lab, same scenarios, so what differs there is kube-proxy's.
 * Skipped (saying why) where Kubernetes is not built; a failure in CI.
 */
import { PROXY_SCENARIOS, servicesSuite } from './support/services-suite.js';
import { kubeMissing } from './support/kube.js';

servicesSuite('vxlan', 'tskw', {
  up: ['--api', 'kube'],
  title: "weft's Services, --api kube",
  only: PROXY_SCENARIOS,
  skip: kubeMissing(),
});
