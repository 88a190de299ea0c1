/**
 * IpamStore: where host-local keeps which address belongs to which attachment of one network.
 *
 * The allocator (src/core/ipam/allocator.ts) talks only to this port, as the reference
 * allocator talks to its Store interface. The real implementation is the reference plugin's
 * on-disk layout (src/adapters/ipam-disk-store.ts); the fake (src/testkit/ipam-store-fake.ts)
 * has the same semantics and both pass the contract suite (src/testkit/ipam-store-contract.ts).
 *
 * Addresses cross this port as canonical text (Go's net.IP.String(), see src/core/net/ip.ts),
 * because that is what names the reservation files. The port does no locking: the caller holds
 * the network's lock (FileLocker on `<dir>/lock`) around every sequence of calls that must be
 * atomic, as the reference does.
 */

export interface Reservation {
  /** The reserved address, canonical text ("10.244.0.5", "fd00::5"). */
  ip: string;
  containerId: string;
  /**
   * The interface, or undefined for a reservation written by an old reference plugin that
   * recorded only the container id. Such a reservation belongs to every ifname of that container.
   */
  ifname: string | undefined;
}

export interface IpamStore {
  /**
   * Records `ip` as held by (containerId, ifname) and remembers it as the last address reserved
   * for range set `rangeSetIndex`. Returns false, changing nothing, when `ip` is already held
   * (by anyone). Never leaves a half-written reservation behind.
   */
  reserve(containerId: string, ifname: string, ip: string, rangeSetIndex: number): Promise<boolean>;

  /** The last address reserve() recorded for the range set, or undefined when none was. */
  lastReserved(rangeSetIndex: number): Promise<string | undefined>;

  /**
   * Frees every address held by (containerId, ifname); when there are none, frees the ones held
   * by containerId in the old id-only format (the reference's fallback). Returns the freed
   * addresses; an empty list when nothing was held.
   */
  releaseById(containerId: string, ifname: string): Promise<string[]>;

  /** Frees one address. Returns false when it was not held. */
  release(ip: string): Promise<boolean>;

  /**
   * The addresses held by (containerId, ifname), including id-only reservations of that
   * container. An empty list when there are none.
   */
  getById(containerId: string, ifname: string): Promise<string[]>;

  /** Every reservation of the network, in no particular order; an empty list when none. */
  list(): Promise<Reservation[]>;
}
