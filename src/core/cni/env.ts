/**
 * The CNI runtime environment (CNI spec 1.1, "Parameters"), parsed and validated.
 *
 * Which variables a command needs follows the spec's table: ADD and CHECK need CNI_CONTAINERID,
 * CNI_NETNS, CNI_IFNAME and CNI_PATH; DEL needs all but CNI_NETNS (the namespace may already be
 * gone); GC needs CNI_PATH; STATUS and VERSION need nothing.
 */

import { CniError, CniErrorCode } from './errors.js';

export const CNI_COMMANDS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const;
export type CniCommand = (typeof CNI_COMMANDS)[number];

export interface CniEnv {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS as key/value pairs, in order. */
  args: Array<[string, string]>;
  /** CNI_PATH split on ':'. */
  path: string[];
  /** The raw variables, passed on unchanged to delegated plugins. */
  raw: Record<string, string>;
}

const REQUIRED: Record<CniCommand, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: [],
  VERSION: [],
};

// The spec: "Must be alphanumeric, optionally containing underscores, hyphens, or periods,
// starting with an alphanumeric character."
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function invalid(message: string): CniError {
  return new CniError(CniErrorCode.InvalidEnvironment, message);
}

/** Returns why an interface name is invalid for Linux, or undefined when it is fine. */
export function validateIfname(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > 15) return `"${name}" is longer than 15 characters`;
  if (name === '.' || name === '..') return `"${name}" is not allowed`;
  if (/[/:\s]/.test(name)) return `"${name}" contains '/', ':' or whitespace`;
  return undefined;
}

export function parseCniArgs(text: string): Array<[string, string]> {
  if (text.trim() === '') return [];
  return text.split(';').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalid(`CNI_ARGS: "${pair}" is not KEY=VALUE`);
    return [pair.slice(0, eq), pair.slice(eq + 1)] as [string, string];
  });
}

export function parseCniEnv(env: Record<string, string | undefined>): CniEnv {
  const raw: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) raw[k] = v;
  const commandText = raw.CNI_COMMAND;
  if (!commandText) throw invalid('CNI_COMMAND is not set');
  if (!(CNI_COMMANDS as readonly string[]).includes(commandText)) {
    throw invalid(`CNI_COMMAND: unknown command "${commandText}" (expected one of ${CNI_COMMANDS.join(', ')})`);
  }
  const command = commandText as CniCommand;
  const missing = REQUIRED[command].filter((name) => !raw[name]);
  if (missing.length > 0) throw invalid(`${missing.join(', ')} must be set for ${command}`);
  const containerId = raw.CNI_CONTAINERID ?? '';
  if (containerId && !CONTAINER_ID.test(containerId)) {
    throw invalid(`CNI_CONTAINERID: "${containerId}" must be alphanumeric with '_', '-' or '.', starting alphanumeric`);
  }
  const ifname = raw.CNI_IFNAME ?? '';
  if (ifname) {
    const why = validateIfname(ifname);
    if (why) throw invalid(`CNI_IFNAME: ${why}`);
  }
  return {
    command,
    containerId,
    netns: raw.CNI_NETNS ?? '',
    ifname,
    args: parseCniArgs(raw.CNI_ARGS ?? ''),
    path: (raw.CNI_PATH ?? '').split(':').filter((p) => p !== ''),
    raw,
  };
}
