/** The lab's commands need root: they make network namespaces. A module of its own, so that the
 * lab's per-node processes (`weft lab runner`) load nothing else of the CLI's shared code. */
export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${what}: run as root (the lab lives in network namespaces)`);
}
