/**
 * The one masquerade story: which of weft's tables rewrites which source address, for which
 * config, and why. Decided here (bridgeIpMasq) and nowhere else; src/cni/plugins/weft.ts asks.
 *
 * Three tables can masquerade, each a disjoint case (all at postrouting srcnat, ./layout.ts):
 *
 * | table            | owner                 | live when                                   | masquerades                                      |
 * | ---------------- | --------------------- | ------------------------------------------- | ------------------------------------------------ |
 * | weft-agent-masq  | the node agent        | FLANNEL_IPMASQ=true (agent --ip-masq)        | pods → outside the cluster network (not multicast) |
 * | weft-masq        | the bridge plugin     | the bridge config says ipMasq: true          | pod → outside its own subnet (not multicast)       |
 * | weft-portmap     | the portmap plugin    | a hostPort mapping with snat (the default)   | hairpin and localhost hostPort connections only    |
 *
 * - With the weft plugin (the cluster's normal path) exactly one of the first two is live: the
 *   agent's when it masquerades (it knows the whole cluster network, so pod-to-pod traffic across
 *   nodes keeps its source, as Flannel's --ip-masq does), else the bridge's (a node without the
 *   agent's ip-masq still gets pods out, as the reference bridge plugin does). A `delegate.ipMasq`
 *   written in the weft plugin's config is the user's explicit choice and wins.
 * - A plain `bridge` config (no weft plugin, no agent) decides with its own ipMasq field, as the
 *   reference plugin.
 * - weft-portmap's masquerade is never a substitute for the other two: it only rewrites DNATed
 *   connections that would otherwise return around the node (`ct status dnat` and a source in
 *   the pod's subnet or 127.0.0.0/8), so it is live whenever the hostPort needs it.
 * If two masquerading chains ever matched one connection, netfilter binds the NAT in the first
 * nat chain that sets it up; later nat chains of the same hook are not consulted for that
 * connection, so the result is one masquerade either way.
 */

/**
 * The bridge plugin's ipMasq under the weft plugin: the user's explicit `delegate.ipMasq` if
 * given, else on exactly when the agent does not masquerade (subnet.env FLANNEL_IPMASQ).
 */
export function bridgeIpMasq(agentIpMasq: boolean, delegateIpMasq: unknown): boolean {
  return typeof delegateIpMasq === 'boolean' ? delegateIpMasq : !agentIpMasq;
}
