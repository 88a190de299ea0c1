/**
 * Sysctl: the port to the kernel's /proc/sys knobs of the network namespace the process runs in
 * (/proc/sys/net is per namespace, resolved for the opening process). The bridge plugin uses it
 * for ip_forward and the bridge's accept_ra.
 */

export interface Sysctl {
  /** The value, trimmed; undefined when the key does not exist (e.g. IPv6 disabled). */
  read(key: string): Promise<string | undefined>;
  /** Writes the value; rejects naming the key when the write fails or the key does not exist. */
  write(key: string, value: string): Promise<void>;
}
