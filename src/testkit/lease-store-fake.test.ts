// The in-memory LeaseStore fake passes the LeaseStore contract, so that the agent's unit tests
// on it (src/agent/subnet-lease.test.ts) hold for the real stores too.
import { FakeClock } from './clock-fake.js';
import { runLeaseStoreContract } from './lease-store-contract.js';
import { MemoryLeaseStore } from './lease-store-fake.js';

runLeaseStoreContract('memory fake', { unitMs: 1_000, patienceMs: 5_000, stepMs: 100, expirySlackMs: 0 }, async () => {
  const clock = new FakeClock();
  const store = new MemoryLeaseStore(clock);
  return {
    store,
    open: async () => store,
    now: () => clock.now(),
    pass: (ms) => clock.advance(ms),
    cleanup: () => store.close(),
  };
});
