/**
 * `weft install-cni`: puts one executable per plugin type into a CNI bin dir, named
 * `<prefix><type>` so weft's plugins can sit beside the reference ones (prefix "weft-") or
 * replace them (prefix ""). The `weft` type (the node plugin that reads subnet.env) has no
 * reference namesake and is always installed as plain `weft`.
 * Each is a two-line sh wrapper that execs Node on this checkout's
 * compiled entry with the type fixed; the runtime execs it like any other plugin.
 */

import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLUGIN_TYPES } from './main.js';

export interface InstallOptions {
  binDir: string;
  prefix: string;
  /** The node binary to exec; defaults to the one running now. */
  nodePath?: string;
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Installs the wrappers; returns the paths written. Each file is replaced atomically (rename). */
export function installCni(opts: InstallOptions): string[] {
  if (!/^[A-Za-z0-9._-]*$/.test(opts.prefix)) {
    throw new Error(`install-cni: --prefix "${opts.prefix}" may only contain letters, digits, '.', '_' and '-'`);
  }
  const entry = fileURLToPath(new URL('./main.js', import.meta.url));
  const node = opts.nodePath ?? process.execPath;
  mkdirSync(opts.binDir, { recursive: true });
  return PLUGIN_TYPES.map((type) => {
    const path = join(opts.binDir, type === 'weft' ? type : `${opts.prefix}${type}`);
    const tmp = `${path}.tmp-${process.pid}`;
    // NODE_EXTRA_CA_CERTS makes Node read a CA bundle at every start (~100 ms here); no plugin
    // makes a TLS connection, so the wrapper drops it.
    writeFileSync(tmp, `#!/bin/sh\n# weft CNI plugin "${type}" (written by weft install-cni)\nunset NODE_EXTRA_CA_CERTS\nexec ${shQuote(node)} ${shQuote(entry)} ${type} "$@"\n`);
    chmodSync(tmp, 0o755);
    renameSync(tmp, path);
    return path;
  });
}
