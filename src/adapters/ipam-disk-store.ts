/**
 * The IpamStore on disk, in exactly the reference host-local plugin's layout, so that weft's
 * host-local and the reference one can share a data directory (and replace each other in place):
 *
 *   <dataDir>/<network>/<ip>                 one file per reserved address, named by its canonical
 *                                            text, created O_EXCL, holding "<containerID>\r\n<ifname>"
 *                                            (older reference versions wrote just "<containerID>")
 *   <dataDir>/<network>/last_reserved_ip.<i> the last address reserved from range set i
 *   <dataDir>/<network>/lock                 flock(2)ed by whoever changes the directory
 *
 * See plugins/ipam/host-local/backend/disk/backend.go upstream. File mode is 0644, as the
 * reference writes it. This adapter does not lock: the plugin holds `lock` (FileLocker) around
 * every ADD/DEL/CHECK/GC, which also excludes the reference plugin.
 */

import { open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { tryParseIp } from '../core/net/ip.js';
import type { IpamStore, Reservation } from '../ports/ipam-store.js';

export const LAST_RESERVED_PREFIX = 'last_reserved_ip.';
export const LOCK_FILE = 'lock';
/** The reference's separator between container id and ifname. */
export const LINE_BREAK = '\r\n';
const FILE_MODE = 0o644;

/** The directory holding one network's reservations. */
export function networkDir(dataDir: string, network: string): string {
  return join(dataDir, network);
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Parses a reservation file's contents (the reference trims surrounding whitespace). */
export function parseReservation(ip: string, content: string): Reservation {
  const text = content.trim();
  const brk = text.search(/\r?\n/);
  if (brk < 0) return { ip, containerId: text, ifname: undefined };
  return { ip, containerId: text.slice(0, brk).trim(), ifname: text.slice(brk).trim() };
}

/**
 * Creates `path` exclusively with `content`, synced to disk; returns false when it exists. On any
 * failure after creation the file is removed, so a reservation is either whole or absent.
 */
async function createExclusive(path: string, content: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx', FILE_MODE);
  } catch (err) {
    if (errno(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
  return true;
}

/** Replaces `path` atomically (write a temporary file, then rename over). */
async function replaceFile(path: string, content: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await rm(tmp, { force: true });
  if (!(await createExclusive(tmp, content))) throw new Error(`create ${tmp}: file exists`);
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export class DiskIpamStore implements IpamStore {
  constructor(readonly dir: string) {}

  async reserve(containerId: string, ifname: string, ip: string, rangeSetIndex: number): Promise<boolean> {
    const path = join(this.dir, ip);
    if (!(await createExclusive(path, `${containerId.trim()}${LINE_BREAK}${ifname}`))) return false;
    try {
      await replaceFile(join(this.dir, `${LAST_RESERVED_PREFIX}${rangeSetIndex}`), ip);
    } catch (err) {
      await rm(path, { force: true });
      throw new Error(`record ${ip} as last reserved of range set ${rangeSetIndex}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return true;
  }

  async lastReserved(rangeSetIndex: number): Promise<string | undefined> {
    try {
      const text = (await readFile(join(this.dir, `${LAST_RESERVED_PREFIX}${rangeSetIndex}`), 'utf8')).trim();
      return text === '' ? undefined : text;
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  async list(): Promise<Reservation[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (errno(err) === 'ENOENT') return [];
      throw err;
    }
    const out: Reservation[] = [];
    for (const name of names) {
      // Only files named by an address are reservations (not lock, last_reserved_ip.N, temps).
      if (!tryParseIp(name)) continue;
      let content: string;
      try {
        content = await readFile(join(this.dir, name), 'utf8');
      } catch (err) {
        // Released between readdir and read (by someone not holding the lock): not a reservation.
        if (errno(err) === 'ENOENT') continue;
        throw err;
      }
      out.push(parseReservation(name, content));
    }
    return out;
  }

  async getById(containerId: string, ifname: string): Promise<string[]> {
    const id = containerId.trim();
    return (await this.list())
      .filter((r) => r.containerId === id && (r.ifname === undefined || r.ifname === ifname))
      .map((r) => r.ip);
  }

  async releaseById(containerId: string, ifname: string): Promise<string[]> {
    const id = containerId.trim();
    const all = (await this.list()).filter((r) => r.containerId === id);
    let mine = all.filter((r) => r.ifname === ifname);
    // As the reference: id-only reservations are released only when no current-format one was.
    if (mine.length === 0) mine = all.filter((r) => r.ifname === undefined);
    const freed: string[] = [];
    for (const r of mine) if (await this.release(r.ip)) freed.push(r.ip);
    return freed;
  }

  async release(ip: string): Promise<boolean> {
    try {
      await unlink(join(this.dir, ip));
      return true;
    } catch (err) {
      if (errno(err) === 'ENOENT') return false;
      throw err;
    }
  }
}
