/**
 * Issue 18: weft's Services acceptance suite (test/support/services-suite.ts) run unchanged against
 * the real kube-proxy: `weft lab up --api kube --services kube-proxy` runs kube-proxy v1.34
 * (--proxy-mode=nftables) on every node and weft's agents with --no-services, on the same pods and
 * Services. The scenarios (PROXY_SCENARIOS of the suite) are its behaviour of Services themselves; left out are the
 * ones that check weft's own tools or tables (weft trace, the weft-services table of headless
 * Services, an agent restart under load) and the API server's validation (the proxy is not in it).
 * test/services-kube-weft.test.ts runs the same scenarios with weft's Services on --api kube, so
 * a difference is kube-proxy's and not the API server's. Every difference found is in the README
 * (Services, "weft beside kube-proxy"), as a weft bug or a deliberate choice.
 *
 * Skipped (saying why) where Kubernetes or kube-proxy is not built; a failure in CI.
 */
import { PROXY_SCENARIOS, servicesSuite } from './support/services-suite.js';
import { kubeMissing } from './support/kube.js';
import { kubeProxyMissing } from '../src/lab/peer-kube-proxy.js';

function missing(): string | undefined {
  const why = kubeMissing() ?? kubeProxyMissing();
  if (why && process.env.CI) throw new Error(`${why}: .ci/run builds it, so in CI this is a failure`);
  return why;
}

servicesSuite('vxlan', 'tskp', {
  up: ['--api', 'kube', '--services', 'kube-proxy'],
  title: 'the real kube-proxy, nftables mode, --api kube',
  only: PROXY_SCENARIOS,
  skip: missing(),
});
