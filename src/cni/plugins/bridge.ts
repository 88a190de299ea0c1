// Placeholder while the bridge plugin is being written in this session; replaced before commit.
import { CniError, CniErrorCode } from '../../core/cni/errors.js';
import type { CniPlugin } from '../skel.js';
import type { PluginDeps } from '../deps.js';

export function createBridgePlugin(_deps: PluginDeps): CniPlugin {
  const no = async (): Promise<never> => {
    throw new CniError(CniErrorCode.InvalidNetworkConfig, 'bridge: not built yet');
  };
  return { add: no, del: no, check: no, gc: no, status: no };
}
