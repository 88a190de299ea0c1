// The ClusterSource contract against the SQLite store: the source reads through its own handle
// on the file (as another process would), woken by fs.watch with a fast fallback poll.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from './clock.js';
import { SqliteObjectStore } from './object-store-sqlite.js';
import { SqliteClusterSource } from './cluster-source-sqlite.js';
import { runClusterSourceContract } from '../testkit/cluster-source-contract.js';

runClusterSourceContract('sqlite', async (opts) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-cluster-src-'));
  const path = join(dir, 'objects.db');
  const store = new SqliteObjectStore(path, systemClock, opts);
  const reader = new SqliteObjectStore(path, systemClock);
  const source = new SqliteClusterSource({ store: reader, path, clock: systemClock, pollMs: 200, pageSize: 7 });
  return {
    store,
    source,
    close: async () => {
      await store.close();
      await reader.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
