/**
 * The bridge plugin (CNI spec 1.1), compatible with the reference bridge's configs: every pod gets
 * a veth pair whose host end is a port of a Linux bridge (cni0 by default) in the node's namespace
 * and whose other end is CNI_IFNAME in the pod, with the addresses and routes of the IPAM plugin
 * named in `ipam.type`. Scope: what a Kubernetes node needs (gateway, default route, ipMasq,
 * hairpin, MTU); VLANs and MAC spoof checking are refused (see bridge-config.ts).
 *
 * Differences from the reference that a runtime can see: the host veth name is deterministic
 * (hostVethName), so DEL finds it without the pod's namespace and a retried ADD is detected; ADD
 * rolls back everything it made on failure (the reference leaves the veth when IPAM fails);
 * ipMasq uses one nftables table with set elements instead of an iptables chain per pod.
 *
 * Order of ADD: validate and read the node's links → IPAM ADD (nothing made on the node yet) →
 * pod guard (src/core/nft/pod-guard.ts: the pod may send only as itself, from its first frame) → bridge → one batch for the gateway addresses, the veth pair and its port (reading the MACs back)
 * → forwarding → one batch for the pod's addresses and routes (reading its MAC back) → masquerade.
 * Every step is one `ip` process: each process start costs more than the kernel work it does.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { Iproute2Links } from '../../adapters/iproute2.js';
import { ProcSysctl } from '../../adapters/proc-sysctl.js';
import { checkAttachment, hostVethOf } from '../../core/bridge/check.js';
import { planAttachment, planBridgeAddresses, type AttachmentPlan } from '../../core/bridge/plan.js';
import { prevResultOf } from '../../core/cni/config.js';
import { CniError, CniErrorCode, toCniError } from '../../core/cni/errors.js';
import { bridgeDelFieldsOf, parseBridgeConfig, type BridgeConfig } from '../../core/cni/plugins/bridge-config.js';
import type { CniResult } from '../../core/cni/result.js';
import { versionAtLeast } from '../../core/cni/version.js';
import { attachmentTag, hostVethName, podMac } from '../../core/names.js';
import { formatIpNet, parseCidr, type IpFamily, type IpNet } from '../../core/net/ip.js';
import { type LinkChange, type Links, type LinkState } from '../../ports/links.js';
import { LinkBatchError } from '../../core/port-errors.js';
import type { Sysctl } from '../../ports/sysctl.js';
import { findPlugin } from '../delegate.js';
import type { PluginDeps } from '../deps.js';
import { netnsExists, requireNetns } from '../netns.js';
import type { CniPlugin, PluginCall } from '../skel.js';
import { addGuard, removeGuard } from './bridge-guard.js';
import { addMasq, removeMasq } from './bridge-masq.js';

export interface BridgeExtras {
  links?: Links;
  sysctl?: Sysctl;
  /** How long ADD waits for IPv6 duplicate address detection when enabledad is set (ms). */
  dadTimeoutMs?: number;
}

/** Undo steps of a running ADD, run in reverse on failure. */
type Undo = Array<{ what: string; run: () => Promise<void> }>;

function kernel(message: string, cause: unknown): CniError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new CniError(CniErrorCode.KernelFailure, `${message}: ${why}`, '', { cause });
}

export function createBridgePlugin(deps: PluginDeps, extras: BridgeExtras = {}): CniPlugin {
  const links = extras.links ?? new Iproute2Links(deps.exec, deps.ipSession);
  const sysctl = extras.sysctl ?? new ProcSysctl();
  const dadTimeoutMs = extras.dadTimeoutMs ?? 10_000;

  /**
   * Makes the bridge if missing (tolerating a concurrent ADD making it first) and brings it up.
   * `current` is the bridge as the ADD's first read found it (undefined: no such link).
   */
  async function ensureBridge(cfg: BridgeConfig, current: LinkState | undefined): Promise<LinkState> {
    let br = current;
    let created = false;
    if (!br) {
      try {
        await links.apply([{ op: 'add-bridge', name: cfg.bridge, ...(cfg.mtu ? { mtu: cfg.mtu } : {}) }], {
          context: `create bridge ${cfg.bridge}`,
        });
      } catch (err) {
        // Two ADDs may both find no bridge and both create it: the loser gets EEXIST. The
        // bridge existing now (checked below to be a bridge) is all this ADD needs.
        if (!(await links.get(cfg.bridge))) throw kernel(`create bridge ${cfg.bridge}`, err);
      }
      br = await links.get(cfg.bridge);
      if (!br)
        throw new CniError(CniErrorCode.KernelFailure, `create bridge ${cfg.bridge}: it vanished right after creation`);
      created = true;
    }
    if (br.kind !== 'bridge') {
      throw new CniError(
        CniErrorCode.InvalidNetworkConfig,
        `bridge: "${cfg.bridge}" already exists but is a ${br.kind ?? 'plain device'}, not a bridge`,
      );
    }
    const changes: LinkChange[] = [];
    // Kernel quirk: a bridge whose MAC was never set explicitly takes the lowest MAC of its
    // ports, so it changes whenever pods come and go and every pod's neighbour entry for the
    // gateway goes stale. Setting its own random MAC explicitly pins it for the bridge's life.
    if (created && br.kind === 'bridge' && br.mac && !/^(00:){5}00$/.test(br.mac))
      changes.push({ op: 'set-mac', name: cfg.bridge, mac: br.mac });
    if (cfg.promiscMode && !br.promisc) changes.push({ op: 'set-promisc', name: cfg.bridge, on: true });
    if (!br.up) changes.push({ op: 'set-up', name: cfg.bridge });
    await links.apply(changes, { context: `set up bridge ${cfg.bridge}` });
    // weft owns the bridge's routes: router advertisements must not add any (as the reference).
    const acceptRa = `net/ipv6/conf/${cfg.bridge}/accept_ra`;
    const ra = await sysctl.read(acceptRa);
    if (ra !== undefined && ra !== '0') await sysctl.write(acceptRa, '0');
    return br;
  }

  /** The changes that give the bridge exactly the gateway addresses wanted (none when it has them). */
  function gatewayChanges(cfg: BridgeConfig, br: LinkState, wanted: IpNet[]): LinkChange[] {
    const change = planBridgeAddresses(
      cfg.bridge,
      br.addresses.map((a) => parseCidr(a.cidr)),
      wanted,
      cfg.forceAddress,
    );
    return [
      ...change.del.map((n): LinkChange => ({ op: 'del-address', dev: cfg.bridge, cidr: formatIpNet(n) })),
      // The gateway must answer neighbour solicitations at once, so no DAD on the bridge.
      ...change.add.map((n): LinkChange => ({ op: 'add-address', dev: cfg.bridge, cidr: formatIpNet(n), nodad: true })),
    ];
  }

  /**
   * Undo of the veth pair: its name is this attachment's alone and it did not exist when the ADD
   * began, so whatever has it now is ours to remove. Deleting the host end deletes the pod end.
   */
  function undoVeth(hostVeth: string): Undo[number] {
    return {
      what: `delete veth ${hostVeth}`,
      run: async () => {
        if (await links.get(hostVeth))
          await links.apply([{ op: 'del-link', name: hostVeth }], { context: `delete veth ${hostVeth}` });
      },
    };
  }

  /**
   * The node side of an attachment in one `ip` batch: the bridge's gateway addresses (when it
   * lacks them), the veth pair (its peer made directly in the pod's namespace), the host end
   * enslaved, hairpinned and up; then the bridge and the host end read back for the result.
   * A concurrent ADD that put the gateway addresses on first makes the batch fail at its first
   * line, before anything of this ADD is made: it is re-planned once from a fresh read.
   */
  async function attachVeth(
    cfg: BridgeConfig,
    env: PluginCall['env'],
    hostVeth: string,
    plan: AttachmentPlan | undefined,
    bridge: LinkState,
    undo: Undo,
    mac: string,
    ipv6: boolean,
  ): Promise<[LinkState, LinkState]> {
    const veth: LinkChange[] = [
      {
        op: 'add-veth',
        name: hostVeth,
        peer: env.ifname,
        peerNetns: env.netns,
        ...(cfg.mtu ? { mtu: cfg.mtu } : {}),
        peerMac: mac,
      },
      // A bridge port needs no IPv6 address of its own: none, so the node sends nothing from it.
      ...(ipv6 ? [{ op: 'set-addrgenmode', name: hostVeth, mode: 'none' } as LinkChange] : []),
      // Enslave before up; hairpin is a bridge-port flag, so it can only be set after enslaving.
      { op: 'set-master', name: hostVeth, master: cfg.bridge },
      ...(cfg.hairpinMode ? [{ op: 'set-hairpin', name: hostVeth, on: true } as LinkChange] : []),
      { op: 'set-up', name: hostVeth },
    ];
    let br = bridge;
    for (let attempt = 0; ; attempt++) {
      const gateway = plan && plan.bridgeAddresses.length > 0 ? gatewayChanges(cfg, br, plan.bridgeAddresses) : [];
      try {
        const [b, hv] = await links.apply([...gateway, ...veth], {
          context: `create veth pair ${hostVeth} / ${env.ifname} on bridge ${cfg.bridge}`,
          read: [cfg.bridge, hostVeth],
        });
        undo.push(undoVeth(hostVeth));
        return [b!, hv!];
      } catch (err) {
        const failed = err instanceof LinkBatchError ? err.failedIndex : undefined;
        if (failed !== undefined && failed < gateway.length) {
          if (attempt >= 1) throw kernel(`set gateway addresses on bridge ${cfg.bridge}`, err);
          const fresh = await links.get(cfg.bridge);
          if (!fresh)
            throw new CniError(
              CniErrorCode.KernelFailure,
              `bridge ${cfg.bridge} disappeared while adding its gateway addresses`,
            );
          br = fresh;
          continue;
        }
        if (failed === gateway.length) {
          // The pair was not made. Its usual cause is worth its own error: CNI_IFNAME is taken.
          if (await links.get(env.ifname, { netns: env.netns })) {
            throw new CniError(
              CniErrorCode.InvalidEnvironment,
              `CNI_IFNAME: interface ${env.ifname} already exists in ${env.netns}`,
            );
          }
          throw kernel(`create veth pair ${hostVeth} / ${env.ifname} in ${env.netns}`, err);
        }
        // A later line failed: the pair may exist.
        undo.push(undoVeth(hostVeth));
        throw kernel(`attach ${hostVeth} to bridge ${cfg.bridge}`, err);
      }
    }
  }

  async function enableForwarding(families: IpFamily[]): Promise<void> {
    for (const f of families) {
      const key = f === 4 ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding';
      if ((await sysctl.read(key)) !== '1') await sysctl.write(key, '1');
    }
  }

  /** Waits until no pod address is tentative (enabledad); fails on a duplicate address. */
  async function waitForDad(ifname: string, netns: string): Promise<void> {
    const deadline = Date.now() + dadTimeoutMs;
    for (;;) {
      const link = await links.get(ifname, { netns });
      const failed = link?.addresses.find((a) => a.dadFailed);
      if (failed)
        throw new CniError(
          CniErrorCode.KernelFailure,
          `address ${failed.cidr} on ${ifname}: duplicate address detection failed (another host has it)`,
        );
      if (!link?.addresses.some((a) => a.tentative)) return;
      if (Date.now() > deadline)
        throw new CniError(
          CniErrorCode.KernelFailure,
          `addresses on ${ifname} still tentative after ${dadTimeoutMs} ms of duplicate address detection`,
        );
      await sleep(50);
    }
  }

  function podChanges(
    cfg: BridgeConfig,
    ifname: string,
    plan: AttachmentPlan | undefined,
    ipv6: boolean,
  ): LinkChange[] {
    const changes: LinkChange[] = [];
    // A pod without IPv6 addresses gets no link-local one either: it has nothing to say over IPv6
    // (and the pod guard drops whatever it sends), so it neither solicits nor answers there.
    if (ipv6 && plan && !plan.podAddresses.some((a) => a.family === 6))
      changes.push({ op: 'set-addrgenmode', name: ifname, mode: 'none' });
    if (!cfg.disableContainerInterface) changes.push({ op: 'set-up', name: ifname });
    for (const a of plan?.podAddresses ?? [])
      changes.push({ op: 'add-address', dev: ifname, cidr: a.cidr, nodad: a.nodad });
    for (const r of plan?.podRoutes ?? []) changes.push({ op: 'replace-route', dev: ifname, route: r });
    return changes;
  }

  async function rollback(undo: Undo, err: unknown): Promise<never> {
    const failures: string[] = [];
    for (const step of undo.reverse()) {
      try {
        await step.run();
      } catch (undoErr) {
        failures.push(`${step.what}: ${undoErr instanceof Error ? undoErr.message : String(undoErr)}`);
      }
    }
    const e = toCniError(err, CniErrorCode.KernelFailure);
    if (failures.length === 0) throw e;
    throw new CniError(e.code, `${e.message}; rollback also failed: ${failures.join('; ')}`, e.details, { cause: err });
  }

  async function add(call: PluginCall): Promise<CniResult> {
    const { env } = call;
    const cfg = parseBridgeConfig(call.config, env.args);
    for (const note of cfg.notes) deps.log(`bridge: ${note}`);
    requireNetns(env.netns);
    const tag = attachmentTag(env.containerId, env.ifname);
    const hostVeth = hostVethName(env.containerId, env.ifname);
    // Everything that can be refused is refused before anything is made.
    if (cfg.ipamType && !findPlugin(cfg.ipamType, env.path)) {
      throw new CniError(
        CniErrorCode.InvalidNetworkConfig,
        `ipam.type: failed to find plugin "${cfg.ipamType}" in path [${env.path.join(' ')}]`,
      );
    }
    // One read of the node's links answers every question about the node side. (The pod side is
    // not read up front: a taken CNI_IFNAME makes the veth creation fail, and is named then.)
    const nodeLinks = new Map((await links.list()).map((l) => [l.name, l]));
    if (nodeLinks.has(hostVeth)) {
      throw new CniError(
        CniErrorCode.InvalidEnvironment,
        `host veth ${hostVeth} for ${tag} already exists: this attachment was added before (DEL it first)`,
      );
    }

    const undo: Undo = [];
    try {
      let plan: AttachmentPlan | undefined;
      let ipamResult: CniResult | undefined;
      if (cfg.ipamType) {
        const type = cfg.ipamType;
        ipamResult = await deps.delegator.run(type, 'ADD', env, call.rawConfig);
        undo.push({
          what: `IPAM DEL (${type})`,
          run: async () => void (await deps.delegator.run(type, 'DEL', env, call.rawConfig)),
        });
        if (!ipamResult) throw new CniError(CniErrorCode.DelegateFailure, `${type} ADD returned no result`);
        plan = planAttachment(cfg, ipamResult);
        // The agent's NetworkPolicy is IPv4-only: a pod with an IPv6 address would have traffic
        // no policy covers. Refused (the IPAM reservation is undone) rather than left open.
        const v6 = cfg.awaitPolicy ? plan.podAddresses.find((a) => a.family === 6) : undefined;
        if (v6)
          throw new CniError(
            CniErrorCode.InvalidNetworkConfig,
            `ipam: ${type} gave the pod IPv6 address ${v6.cidr}, but this node's agent enforces NetworkPolicy for IPv4 only (awaitPolicy)`,
            'give the pod IPv4 addresses only (weft cluster networks are IPv4)',
          );
      }

      // The guard goes in before either end of the veth exists: the pod never sends unchecked.
      const v4 = plan?.podAddresses.find((a) => a.family === 4);
      const mac =
        cfg.mac ?? podMac(env.containerId, env.ifname, v4 ? v4.cidr.slice(0, v4.cidr.indexOf('/')) : undefined);
      if (plan && plan.podAddresses.length > 0) {
        undo.push({ what: `remove pod guard of ${tag}`, run: () => removeGuard(deps, tag) });
        const addresses = plan.podAddresses.map((a) => ({
          family: a.family,
          address: a.cidr.slice(0, a.cidr.indexOf('/')),
        }));
        await addGuard(deps, tag, { hostVeth, mac, addresses, awaitPolicy: cfg.awaitPolicy }).catch((err: unknown) => {
          throw kernel(`pod guard for ${tag}`, err);
        });
      }
      const ipv6 = (await sysctl.read('net/ipv6/conf/all/disable_ipv6')) !== undefined;

      const bridge = await ensureBridge(cfg, nodeLinks.get(cfg.bridge));
      const [br, hv] = await attachVeth(cfg, env, hostVeth, plan, bridge, undo, mac, ipv6);
      if (plan)
        await enableForwarding(plan.forwardFamilies).catch((err: unknown) => {
          throw kernel('enable forwarding on the node', err);
        });

      const [ct] = await links
        .apply(podChanges(cfg, env.ifname, plan, ipv6), {
          netns: env.netns,
          context: `configure ${env.ifname}`,
          read: [env.ifname],
        })
        .catch((err: unknown) => {
          throw kernel(`configure ${env.ifname} in ${env.netns}`, err);
        });
      if (plan && cfg.enableDad && plan.podAddresses.some((a) => a.family === 6))
        await waitForDad(env.ifname, env.netns);

      if (plan && plan.masq.length > 0) {
        undo.push({ what: `remove masquerade of ${tag}`, run: () => removeMasq(deps, tag) });
        await addMasq(deps, tag, plan.masq).catch((err: unknown) => {
          throw kernel(`ipMasq for ${tag}`, err);
        });
      }

      if (!ct)
        throw new CniError(CniErrorCode.KernelFailure, `ADD ${tag}: ${env.ifname} vanished while it was being set up`);
      const dns = cfg.dns ?? ipamResult?.dns;
      return {
        cniVersion: call.version,
        interfaces: [
          { name: br.name, mac: br.mac, mtu: br.mtu },
          { name: hv.name, mac: hv.mac, mtu: hv.mtu },
          { name: ct.name, mac: ct.mac, mtu: ct.mtu, sandbox: env.netns },
        ],
        ips: plan?.ips ?? [],
        routes: plan?.routes ?? [],
        ...(dns ? { dns } : {}),
      };
    } catch (err) {
      return rollback(undo, err);
    }
  }

  async function del(call: PluginCall): Promise<void> {
    const { env } = call;
    const fields = bridgeDelFieldsOf(call.config);
    const tag = attachmentTag(env.containerId, env.ifname);
    const hostVeth = hostVethName(env.containerId, env.ifname);
    const errors: CniError[] = [];
    const step = async (what: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        const e = toCniError(err, CniErrorCode.KernelFailure);
        errors.push(new CniError(e.code, `${what}: ${e.message}`, e.details, { cause: err }));
      }
    };
    if (fields.ipamType) {
      const type = fields.ipamType;
      await step(`IPAM DEL (${type})`, async () => void (await deps.delegator.run(type, 'DEL', env, call.rawConfig)));
    }
    await step(`delete veth ${hostVeth}`, async () => {
      if (await links.get(hostVeth)) {
        try {
          await links.apply([{ op: 'del-link', name: hostVeth }], { context: `delete veth ${hostVeth}` });
        } catch (err) {
          // A concurrent DEL may have removed it in between; gone is what was asked.
          if (await links.get(hostVeth)) throw err;
        }
        return;
      }
      // No host end under weft's name (e.g. the pair was made by another bridge plugin): remove
      // the pod's end of a veth by its CNI_IFNAME, which takes the host end with it.
      if (!netnsExists(env.netns)) return;
      const ct = await links.get(env.ifname, { netns: env.netns });
      if (ct?.kind === 'veth')
        await links.apply([{ op: 'del-link', name: env.ifname }], {
          netns: env.netns,
          context: `delete ${env.ifname} in ${env.netns}`,
        });
    });
    await step(`remove masquerade of ${tag}`, () => removeMasq(deps, tag));
    await step(`remove pod guard of ${tag}`, () => removeGuard(deps, tag));
    if (errors.length === 0) return;
    throw new CniError(
      errors[0]?.code ?? CniErrorCode.KernelFailure,
      `bridge DEL ${tag}: ${errors.map((e) => e.message).join('; ')}`,
    );
  }

  async function check(call: PluginCall): Promise<void> {
    const { env } = call;
    const cfg = parseBridgeConfig(call.config, env.args);
    const prev = prevResultOf(call.config);
    if (!prev)
      throw new CniError(CniErrorCode.InvalidNetworkConfig, 'invalid network config: prevResult: required for CHECK');
    requireNetns(env.netns);
    if (cfg.ipamType) await deps.delegator.run(cfg.ipamType, 'CHECK', env, call.rawConfig);
    const hostVeth = hostVethOf(prev, cfg.bridge) ?? hostVethName(env.containerId, env.ifname);
    const [bridge, hv, ct, r4, r6] = await Promise.all([
      links.get(cfg.bridge),
      links.get(hostVeth),
      links.get(env.ifname, { netns: env.netns }),
      links.routes(4, { netns: env.netns }),
      links.routes(6, { netns: env.netns }),
    ]);
    const problems = checkAttachment({ bridge: cfg.bridge, hostVeth, ifname: env.ifname, netns: env.netns }, prev, {
      ...(bridge ? { bridge } : {}),
      ...(hv ? { hostVeth: hv } : {}),
      ...(ct ? { container: ct } : {}),
      podRoutes: [...r4, ...r6],
    });
    if (problems.length > 0) {
      throw new CniError(
        CniErrorCode.CheckFailed,
        `bridge CHECK ${attachmentTag(env.containerId, env.ifname)}: ${problems.join('; ')}`,
      );
    }
  }

  async function gc(call: PluginCall): Promise<void> {
    const { ipamType } = bridgeDelFieldsOf(call.config);
    if (ipamType) await deps.delegator.run(ipamType, 'GC', call.env, call.rawConfig);
  }

  /** STATUS: the IPAM plugin's, when it speaks 1.1.0 (older plugins have no STATUS). */
  async function status(call: PluginCall): Promise<void> {
    const { ipamType } = bridgeDelFieldsOf(call.config);
    if (!ipamType) return;
    const path = findPlugin(ipamType, call.env.path);
    if (!path)
      throw new CniError(
        CniErrorCode.PluginNotAvailable,
        `ipam.type: failed to find plugin "${ipamType}" in path [${call.env.path.join(' ')}]`,
      );
    const r = await deps.exec.tryRun({
      argv: [path],
      input: call.rawConfig,
      env: { ...call.env.raw, CNI_COMMAND: 'VERSION' },
      context: `VERSION of ${ipamType}`,
    });
    let versions: unknown;
    try {
      versions = (JSON.parse(r.stdout) as { supportedVersions?: unknown }).supportedVersions;
    } catch (err) {
      throw new CniError(
        CniErrorCode.PluginNotAvailable,
        `${ipamType} VERSION: cannot decode its answer: ${(err as Error).message}`,
      );
    }
    const speaks11 =
      Array.isArray(versions) && versions.some((v) => typeof v === 'string' && versionAtLeast(v, '1.1.0'));
    if (speaks11) await deps.delegator.run(ipamType, 'STATUS', call.env, call.rawConfig);
  }

  return { add, del, check, gc, status };
}
