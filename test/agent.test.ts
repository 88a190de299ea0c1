// The agent scenario on the embedded SQLite store, starting on vxlan (see test/support/agent-suite.ts).
import { join } from 'node:path';
import { agentSuite } from './support/agent-suite.js';
import { sh } from './support/netns.js';

const storeFile = join('/tmp', `weft-agq-store-${process.pid}.db`);
agentSuite({
  title: 'weft agent on three nodes, embedded store',
  prefix: 'weft-agq-',
  first: 'vxlan',
  storeArgs: () => ['--store', 'embedded', '--store-file', storeFile],
  teardown: async () => {
    for (const suffix of ['', '-wal', '-shm']) sh(['rm', '-f', `${storeFile}${suffix}`]);
  },
  describeStore: () =>
    sh(['sqlite3', storeFile, 'select subnet, public_ip, expires_at from leases']).stdout + ` now ${Date.now()}`,
});
