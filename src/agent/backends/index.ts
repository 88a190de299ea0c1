/**
 * The backends weft has, by net-conf Backend.Type. Adding one is a file in this directory and a
 * line here; the agent never branches on the type.
 */

import type { BackendType } from '../../core/backend/state.js';
import type { BackendKind } from './backend.js';
import { BGP } from './bgp.js';
import { HOST_GW, VXLAN } from './kernel-routes.js';
import { UDP } from './udp.js';

const KINDS: Record<BackendType, BackendKind> = {
  vxlan: VXLAN,
  'host-gw': HOST_GW,
  bgp: BGP,
  udp: UDP,
};

export function backendKind(type: BackendType): BackendKind {
  return KINDS[type];
}

/** Every backend type, for cleanup (which must not need to know which one ran). */
export function allBackendKinds(): BackendKind[] {
  return Object.values(KINDS);
}
