#!/usr/bin/env node
/**
 * The `weft` command. Each subcommand lives in its own file under src/cli/ and only wires.
 */

import { Command } from 'commander';

/**
 * Each subcommand's module, loaded only when that subcommand runs (all of them for help): a lab
 * starts an agent and a pod runner per node, and loading every command's code cost each of those
 * processes ~120 ms of CPU more at start-up than loading its own.
 */
const MODULES: Array<[names: string[], load: () => Promise<(program: Command) => void>]> = [
  [['install-cni'], async () => (await import('./install-cni.js')).registerInstallCni],
  [['demo'], async () => (await import('./demo.js')).registerDemo],
  [['agent'], async () => (await import('./agent.js')).registerAgent],
  [['net-conf'], async () => (await import('./net-conf.js')).registerNetConf],
  [['leases'], async () => (await import('./leases.js')).registerLeases],
  [['lab'], async () => (await import('./lab.js')).registerLab],
  [['apply', 'delete'], async () => (await import('./apply.js')).registerApply],
  [['label'], async () => (await import('./label.js')).registerLabel],
  [['exec'], async () => (await import('./exec.js')).registerExec],
  [['logs'], async () => (await import('./logs.js')).registerLogs],
  [['get'], async () => (await import('./get.js')).registerGet],
  [['probe'], async () => (await import('./probe.js')).registerProbe],
  [['reach', 'explain'], async () => (await import('./reach.js')).registerReach],
  [['flows'], async () => (await import('./flows.js')).registerFlows],
  [['dns'], async () => (await import('./dns.js')).registerDns],
  [['ingress', 'echo-http'], async () => (await import('./ingress.js')).registerIngress],
  [['trace'], async () => (await import('./trace.js')).registerTrace],
  [['ui'], async () => (await import('./ui.js')).registerUi],
];

const program = new Command();
program.enablePositionalOptions();
program
  .name('weft')
  .description('A Kubernetes pod network: CNI plugins, subnets, policy and services on the kernel data plane.');
const asked = process.argv[2];
const own = MODULES.find(([names]) => asked !== undefined && names.includes(asked));
for (const [, load] of own ? [own] : MODULES) (await load())(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`weft: ${err instanceof Error ? err.message : String(err)}\n`);
  // Exit now: a failed command may leave timers or sockets behind that would keep it alive.
  process.exit(1);
});
