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
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROXY_SCENARIOS, servicesSuite } from './support/services-suite.js';
import { sh } from './support/netns.js';
import { waitFor } from './support/cluster.js';
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
  more: (lab) => {
    test("every node runs kube-proxy (its nftables tables) and weft's agent with --no-services (no Services table)", () => {
      const record = JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as {
        nodes: Array<{ name: string; ns: string; agentPid: number; kubeProxyPid: number }>;
      };
      assert.equal(record.nodes.length, 3);
      for (const n of record.nodes) {
        const proxy = readFileSync(`/proc/${n.kubeProxyPid}/cmdline`, 'utf8').split('\0');
        assert.ok(proxy[0]!.endsWith('/kube-proxy') && proxy.includes('--proxy-mode=nftables'), proxy.join(' '));
        const agent = readFileSync(`/proc/${n.agentPid}/cmdline`, 'utf8').split('\0');
        assert.ok(agent.includes('--no-services'), agent.join(' '));
        const tables = sh(['ip', 'netns', 'exec', n.ns, 'nft', 'list', 'tables']).stdout;
        assert.match(tables, /^table ip kube-proxy$/m, `${n.name}: ${tables}`);
        assert.doesNotMatch(tables, /weft-services/, `${n.name}: no Services table of weft's`);
      }
    });

    test('an agent started with --no-services removes a Services table weft left on the node (a node moved to kube-proxy)', async () => {
      const ns = `${lab.prefix}n1`;
      const left = sh(['ip', 'netns', 'exec', ns, 'nft', 'add', 'table', 'ip', 'weft-services']);
      assert.equal(left.status, 0, left.stderr);
      lab.must(['lab', 'restart-agents', '--name', lab.name, '--node', 'n1']);
      await waitFor('the restarted agent to remove ip weft-services', () =>
        /weft-services/.test(sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables']).stdout) ? undefined : true,
      );
      assert.match(sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables']).stdout, /^table ip kube-proxy$/m);
    });
  },
});
