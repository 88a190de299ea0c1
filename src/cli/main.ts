#!/usr/bin/env node
/**
 * The `weft` command. Each subcommand lives in its own file under src/cli/ and only wires.
 */

import { Command } from 'commander';
import { registerInstallCni } from './install-cni.js';
import { registerDemo } from './demo.js';
import { registerAgent } from './agent.js';
import { registerNetConf } from './net-conf.js';
import { registerLeases } from './leases.js';
import { registerLab } from './lab.js';
import { registerApply } from './apply.js';
import { registerLabel } from './label.js';
import { registerExec } from './exec.js';
import { registerGet } from './get.js';
import { registerProbe } from './probe.js';
import { registerReach } from './reach.js';

const program = new Command();
program.enablePositionalOptions();
program.name('weft').description('A Kubernetes pod network: CNI plugins, subnets, policy and services on the kernel data plane.');
registerInstallCni(program);
registerDemo(program);
registerAgent(program);
registerNetConf(program);
registerLeases(program);
registerLab(program);
registerApply(program);
registerLabel(program);
registerExec(program);
registerGet(program);
registerProbe(program);
registerReach(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`weft: ${err instanceof Error ? err.message : String(err)}\n`);
  // Exit now: a failed command may leave timers or sockets behind that would keep it alive.
  process.exit(1);
});
