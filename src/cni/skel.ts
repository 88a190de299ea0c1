/**
 * The CNI dispatcher: reads the environment and stdin, calls the plugin's handler for
 * CNI_COMMAND, and writes the result or the spec's error JSON to stdout.
 *
 * Like the reference plugins' skel package it takes env, stdin and stdout as parameters, so the
 * whole protocol is testable in-process. This is the only place a thrown error becomes CNI error
 * JSON; handlers just throw.
 */

import { decodeConfig, requireVersion } from '../core/cni/config.js';
import { parseCniEnv, type CniEnv } from '../core/cni/env.js';
import { CniError, CniErrorCode, toCniError } from '../core/cni/errors.js';
import { convertResult, type CniResult } from '../core/cni/result.js';
import {
  isSupportedVersion,
  LATEST_VERSION,
  SUPPORTED_VERSIONS,
  versionAtLeast,
  type CniVersion,
} from '../core/cni/version.js';

export interface PluginCall {
  env: CniEnv;
  /** The decoded network config, as the runtime sent it. */
  config: Record<string, unknown>;
  /** The exact bytes the runtime sent, passed on unchanged to delegated plugins. */
  rawConfig: string;
  version: CniVersion;
}

export interface CniPlugin {
  add(call: PluginCall): Promise<CniResult>;
  del(call: PluginCall): Promise<void>;
  check(call: PluginCall): Promise<void>;
  gc(call: PluginCall): Promise<void>;
  status(call: PluginCall): Promise<void>;
}

export interface DispatchIo {
  env: Record<string, string | undefined>;
  stdin: string;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Runs one CNI invocation; returns the process exit code (0 success, 1 error). */
export async function dispatch(plugin: CniPlugin, io: DispatchIo): Promise<number> {
  let version: string = LATEST_VERSION;
  try {
    // Peek at the version first so that even an environment error is reported in the
    // caller's version.
    const peek = peekVersion(io.stdin);
    if (peek && isSupportedVersion(peek)) version = peek;
    const env = parseCniEnv(io.env);
    if (env.command === 'VERSION') {
      io.stdout(JSON.stringify({ cniVersion: version, supportedVersions: [...SUPPORTED_VERSIONS] }) + '\n');
      return 0;
    }
    const config = decodeConfig(io.stdin);
    const cniVersion = requireVersion(config);
    version = cniVersion;
    requireCommandAllowed(env.command, cniVersion);
    const call: PluginCall = { env, config, rawConfig: io.stdin, version: cniVersion };
    switch (env.command) {
      case 'ADD': {
        const result = await plugin.add(call);
        io.stdout(JSON.stringify(convertResult(result, cniVersion)) + '\n');
        return 0;
      }
      case 'DEL':
        await plugin.del(call);
        return 0;
      case 'CHECK':
        await plugin.check(call);
        return 0;
      case 'GC':
        await plugin.gc(call);
        return 0;
      case 'STATUS':
        await plugin.status(call);
        return 0;
    }
  } catch (err) {
    const cniErr = toCniError(err);
    io.stdout(JSON.stringify({ cniVersion: version, ...cniErr.toJSON() }) + '\n');
    io.stderr(`${cniErr.message}${cniErr.details ? ` (${cniErr.details})` : ''}\n`);
    return 1;
  }
}

function peekVersion(stdin: string): string | undefined {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' ? v : undefined;
  } catch {
    // Not JSON: the real decode reports it with the right code; here there is just no version.
    return undefined;
  }
}

/** CHECK exists from 0.4.0, GC and STATUS from 1.1.0 (CNI spec, "Version considerations"). */
function requireCommandAllowed(command: string, version: string): void {
  const since: Record<string, string> = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' };
  const min = since[command];
  if (min && !versionAtLeast(version, min)) {
    throw new CniError(
      CniErrorCode.IncompatibleVersion,
      `config version "${version}" does not allow command ${command} (needs ${min} or later)`,
    );
  }
}
