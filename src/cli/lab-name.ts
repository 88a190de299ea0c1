/**
 * Which lab a command acts on, decided in one place and the same way for every command (issue 16
 * item 9: `weft lab down` once ignored $WEFT_LAB and removed the lab "weft"): `--name` or `--lab`
 * (one option under two names: `lab up --name` reads naturally, `get --lab` is what the commands
 * that do other things take), else $WEFT_LAB, else "weft". Kept apart from lab-common.ts so that
 * `weft lab …`, which starts a process per node, loads nothing else for it.
 */
import type { Command } from 'commander';
import { checkLabName } from '../core/lab/lab-spec.js';

export const DEFAULT_LAB = 'weft';
const LAB_HELP = `the lab to act on (default: $WEFT_LAB, else "${DEFAULT_LAB}")`;

/** The flags that name a lab; commander leaves an option it was not given undefined. */
export interface LabFlags {
  name?: string;
  lab?: string;
}

/**
 * The lab to act on: --name or --lab (an error when both are given and differ), else $WEFT_LAB
 * (an empty value counts as unset, as shells write it), else "weft"; checked as a lab name,
 * naming where it came from.
 */
export function labNameOf(flags: LabFlags, env: Readonly<Record<string, string | undefined>>): string {
  if (flags.name !== undefined && flags.lab !== undefined && flags.name !== flags.lab) {
    throw new Error(`--name "${flags.name}" and --lab "${flags.lab}" name different labs: give one of them`);
  }
  if (flags.name !== undefined) return checkLabName(flags.name, '--name');
  if (flags.lab !== undefined) return checkLabName(flags.lab, '--lab');
  const fromEnv = env.WEFT_LAB;
  if (fromEnv !== undefined && fromEnv !== '') return checkLabName(fromEnv, '$WEFT_LAB');
  return DEFAULT_LAB;
}

/** --lab on a command that also does other things (apply, get, probe, …). */
export function withLabOption(cmd: Command): Command {
  return cmd.option('--lab <name>', LAB_HELP);
}

/** --name and --lab on the `weft lab …` commands, where the lab is what the command is about. */
export function withLabNameOptions(cmd: Command): Command {
  return cmd.option('--name <name>', LAB_HELP).option('--lab <name>', 'the same as --name');
}
