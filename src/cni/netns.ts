/**
 * Checks on CNI_NETNS shared by the plugins that enter the pod's network namespace.
 */

import { statSync } from 'node:fs';
import { CniError, CniErrorCode } from '../core/cni/errors.js';

/**
 * Throws "container unknown or does not exist" (code 3) when the namespace path is missing, so
 * that ADD fails before it makes anything on the host.
 */
export function requireNetns(path: string): void {
  try {
    statSync(path);
  } catch {
    throw new CniError(CniErrorCode.UnknownContainer, `CNI_NETNS: network namespace "${path}" does not exist`);
  }
}

/** True when the namespace path exists (DEL uses it to skip work inside a namespace already gone). */
export function netnsExists(path: string): boolean {
  if (path === '') return false;
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
