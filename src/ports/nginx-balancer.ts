/**
 * NginxBalancer: the port to the endpoint lists of a running nginx's Lua balancer
 * (src/core/ingress/nginx-lua.ts). The controller replaces the lists through it when only
 * endpoints changed, instead of reloading nginx. The real one posts to 127.0.0.1 inside the pod
 * (src/adapters/nginx-balancer-http.ts); tests use a fake that records what it was given.
 */

import type { EndpointLists } from '../core/ingress/nginx-lua.js';

export interface NginxBalancer {
  /**
   * Replaces every list nginx holds with `lists` (upstreams not named are removed). Rejects,
   * naming the address and nginx's answer, when nginx does not take them (not listening yet,
   * an error status); nothing is changed then.
   */
  setEndpoints(lists: EndpointLists): Promise<void>;
}
