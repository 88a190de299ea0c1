// Shared flag handling of the lab commands: which lab (--lab, or $WEFT_LAB, else "weft").
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { NodeExec } from '../adapters/exec.js';
import { LabClient } from '../lab/client.js';
import { labRoot } from '../lab/lab-state.js';
import type { LocatedObject } from '../core/k8s/parse.js';

export function withLabOption(cmd: Command): Command {
  return cmd.option('--lab <name>', 'the lab to act on ($WEFT_LAB, else "weft")');
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${what}: run as root (the lab lives in network namespaces)`);
}

export function openLab(opts: { lab?: string }): LabClient {
  return LabClient.open(labRoot(process.env), opts.lab ?? process.env.WEFT_LAB ?? 'weft', new NodeExec());
}

/** -f arguments: files, directories (their .yaml, .yml and .json files, sorted) or "-" for stdin. */
export function readManifestArgs(files: string[]): LocatedObject[] {
  if (files.length === 0) throw new Error('-f: give a file, a directory or - (stdin)');
  const listDir = (p: string): string[] => {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (err) {
      throw new Error(`-f ${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
    }
    if (!isDir) return [p];
    const found = readdirSync(p).filter((f) => /\.(ya?ml|json)$/.test(f)).sort().map((f) => join(p, f));
    if (found.length === 0) throw new Error(`-f ${p}: no .yaml, .yml or .json files in the directory`);
    return found;
  };
  return LabClient.readManifests(files, listDir, () => readFileSync(0, 'utf8'));
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
