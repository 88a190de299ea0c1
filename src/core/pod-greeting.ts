/**
 * What a lab pod answers on its ports, so that probes and people can tell which pod they reached
 * (through a Service's VIP the client dials an address that names no pod):
 * - TCP: the greeting line `weft <namespace/pod> <port> from <client address>` (the address as the
 *   pod sees it, which shows NAT), then an echo of whatever the client sends;
 * - UDP: each datagram echoed back, except a datagram that starts with WHO_REQUEST: that one gets
 *   the same greeting line followed by the echo of the datagram, as TCP would answer. Plain
 *   echoes (today's `weft probe --protocol UDP`, socat users) are unchanged.
 */

/** The prefix of a UDP datagram that asks the pod to name itself. */
export const WHO_REQUEST = 'weft-who ';

/** The greeting line a pod sends, newline included. */
export function podGreeting(pod: string, port: number, client: string): string {
  // Strip the IPv4-mapped prefix of dual-stack sockets so the address reads as people write it.
  return `weft ${pod} ${port} from ${client.replace(/^::ffff:/, '')}\n`;
}

/** Does a UDP datagram (its start, as text) ask the pod to name itself? */
export function isWhoRequest(start: string): boolean {
  return start.startsWith(WHO_REQUEST);
}

/** What a pod's UDP port sends back for one datagram (as text; the servers keep the echo's bytes). */
export function udpAnswer(pod: string, port: number, client: string, datagram: string): string {
  return isWhoRequest(datagram) ? podGreeting(pod, port, client) + datagram : datagram;
}

export interface Greeting {
  pod: string;
  port: number;
  client: string;
}

/** The greeting at the start of what a pod sent, or undefined when it is not one. */
export function parseGreeting(text: string): Greeting | undefined {
  const m = /^weft (\S+) (\d{1,5}) from (\S+)\n/.exec(text);
  if (!m) return undefined;
  return { pod: m[1]!, port: Number(m[2]), client: m[3]! };
}
