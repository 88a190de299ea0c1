/**
 * `weft install-cni`: puts one executable per plugin type into a CNI bin dir, named
 * `<prefix><type>` so weft's plugins can sit beside the reference ones (prefix "weft-") or
 * replace them (prefix ""). The `weft` type (the node plugin that reads subnet.env) has no
 * reference namesake and is always installed as plain `weft`.
 * Each is a small sh wrapper (wrapperScript) that the runtime execs like any other plugin: it
 * hands the call to the node agent's CNI socket, or runs this checkout's bundled entry
 * (dist/bundle/cni.mjs, made by `npm run build`; see scripts/bundle-cni.mjs) with the type fixed.
 */

import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CNI_BUNDLE, PLUGIN_TYPES } from './main.js';

export interface InstallOptions {
  binDir: string;
  prefix: string;
  /** The node binary to exec; defaults to the one running now. */
  nodePath?: string;
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The wrapper for one plugin type. It hands the call to the node agent's CNI socket when one
 * answers (see src/cni/server.ts: one socat start instead of a Node start per call), else runs
 * the plugin itself. The socket is $WEFT_CNI_SOCKET, by default the agent's /run/weft/cni.sock
 * (the lab's kubelet sets it per node, as the lab's nodes share one host's file system).
 * The config is read once into a variable (with a sentinel that keeps its trailing newlines), so
 * the fallback can still pass it on when the socket does not answer.
 */
export function wrapperScript(type: string, node: string, entry: string): string {
  // Only shell builtins before socat: under load every process start costs 5-10 ms of CPU here,
  // so the config is read with `read` (not cat) and the environment with eval (not env | grep).
  return `#!/bin/sh
# weft CNI plugin "${type}" (written by weft install-cni)
# NODE_EXTRA_CA_CERTS makes Node read a CA bundle at every start (~100 ms); no plugin makes a
# TLS connection, so the wrapper drops it.
unset NODE_EXTRA_CA_CERTS
sock="\${WEFT_CNI_SOCKET:-/run/weft/cni.sock}"
nl='
'
conf=''
while IFS= read -r line; do conf="$conf$line$nl"; done
conf="$conf$line"
if [ -S "$sock" ] && command -v socat >/dev/null 2>&1; then
  # The request: the CNI environment (the variables that are set), the plugin type, an empty
  # line, then the config.
  hdr=''
  for k in CNI_COMMAND CNI_CONTAINERID CNI_NETNS CNI_IFNAME CNI_ARGS CNI_PATH WEFT_LOCK_DIR; do
    eval "v=\\\${$k-} set=\\\${$k+x}"
    [ -z "$set" ] || hdr="$hdr$k=$v$nl"
  done
  reply=$(printf '%sWEFT_PLUGIN_TYPE=${type}\\n\\n%s' "$hdr" "$conf" | socat -t 600 -T 600 - "UNIX-CONNECT:$sock" 2>/dev/null; echo ".$?")
  sent=\${reply##*.}
  reply=\${reply%.*}
  case "\${reply%%"$nl"*}" in
    ''|*[!0-9]*)
      # No answer. Nothing reached an agent when socat could not connect: run the plugin here.
      # An agent that took the call and died cannot tell what it did: the runtime retries.
      if [ "$sent" = 0 ]; then
        printf '{"cniVersion":"1.0.0","code":11,"msg":"the weft agent on %s took the call but gave no answer"}\\n' "$sock"
        exit 1
      fi ;;
    *)
      printf '%s' "\${reply#*"$nl"}"
      exit "\${reply%%"$nl"*}" ;;
  esac
fi
printf '%s' "$conf" | ${shQuote(node)} ${shQuote(entry)} ${type} "$@"
`;
}

/** Installs the wrappers; returns the paths written. Each file is replaced atomically (rename). */
export function installCni(opts: InstallOptions): string[] {
  if (!/^[A-Za-z0-9._-]*$/.test(opts.prefix)) {
    throw new Error(`install-cni: --prefix "${opts.prefix}" may only contain letters, digits, '.', '_' and '-'`);
  }
  const entry = CNI_BUNDLE;
  if (!existsSync(entry)) throw new Error(`install-cni: ${entry} is missing: build it with \`npm run build\``);
  const node = opts.nodePath ?? process.execPath;
  mkdirSync(opts.binDir, { recursive: true });
  return PLUGIN_TYPES.map((type) => {
    const path = join(opts.binDir, type === 'weft' ? type : `${opts.prefix}${type}`);
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, wrapperScript(type, node, entry));
    chmodSync(tmp, 0o755);
    renameSync(tmp, path);
    return path;
  });
}
