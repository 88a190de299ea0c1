/**
 * What a CNI plugin needs from the outside world, injected so that plugins are testable and the
 * entry point is the only place that picks real implementations.
 */

import type { Exec } from '../ports/exec.js';
import type { FileLocker } from '../ports/lock.js';
import type { Nft } from '../ports/nft.js';
import type { Delegator } from './delegate.js';
import type { IpSession } from '../adapters/ip-session.js';

export interface PluginDeps {
  exec: Exec;
  locker: FileLocker;
  /** nftables in the namespace the plugin runs in (the node's). */
  nft: Nft;
  delegator: Delegator;
  /** Directory for lock files of shared kernel state (default /run/weft/locks). */
  lockDir: string;
  /** Diagnostic lines go to stderr; stdout belongs to the CNI result. */
  log: (line: string) => void;
  /** A long-lived `ip` for the node's namespace, when the plugin runs inside the agent. */
  ipSession?: IpSession;
}
