/**
 * Tests for choosing the lab (issue 16 item 9): one rule for every command, --name/--lab, then
 * $WEFT_LAB, then "weft"; every lab command and every command with --lab documents it in --help;
 * and `weft lab status` (which needs no root) really acts on the lab $WEFT_LAB names.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { labNameOf, type LabFlags } from './lab-name.js';
import { registerLab } from './lab.js';
import { registerApply } from './apply.js';
import { registerExec } from './exec.js';
import { registerGet } from './get.js';
import { registerLabel } from './label.js';
import { registerProbe } from './probe.js';
import { registerReach } from './reach.js';

const chosen: Array<[string, LabFlags, Record<string, string>, string]> = [
  ['nothing given: the default lab', {}, {}, 'weft'],
  ['$WEFT_LAB', {}, { WEFT_LAB: 'x' }, 'x'],
  ['an empty $WEFT_LAB is unset', {}, { WEFT_LAB: '' }, 'weft'],
  ['--name wins over $WEFT_LAB', { name: 'a' }, { WEFT_LAB: 'x' }, 'a'],
  ['--lab wins over $WEFT_LAB', { lab: 'b' }, { WEFT_LAB: 'x' }, 'b'],
  ['--name and --lab naming the same lab', { name: 'c', lab: 'c' }, { WEFT_LAB: 'x' }, 'c'],
];
for (const [name, flags, env, want] of chosen) {
  test(`lab name: ${name}`, () => assert.equal(labNameOf(flags, env), want));
}

const refused: Array<[string, LabFlags, Record<string, string>, string]> = [
  [
    '--name and --lab naming different labs',
    { name: 'a', lab: 'b' },
    {},
    '--name "a" and --lab "b" name different labs: give one of them',
  ],
  ['a bad --name', { name: 'A_b' }, {}, '--name: "A_b" is not a valid lab name'],
  ['a bad --lab', { lab: '1x' }, {}, '--lab: "1x" is not a valid lab name'],
  ['a bad $WEFT_LAB', {}, { WEFT_LAB: 'my lab' }, '$WEFT_LAB: "my lab" is not a valid lab name'],
];
for (const [name, flags, env, want] of refused) {
  test(`lab name refused: ${name}`, () => {
    assert.throws(
      () => labNameOf(flags, env),
      (e: unknown) => e instanceof Error && e.message.startsWith(want),
    );
  });
}

function program(): Command {
  const p = new Command();
  p.enablePositionalOptions();
  for (const register of [
    registerLab,
    registerApply,
    registerExec,
    registerGet,
    registerLabel,
    registerProbe,
    registerReach,
  ])
    register(p);
  return p;
}

test('every lab command that acts on one lab takes --name and --lab, and --help says $WEFT_LAB is the fallback', () => {
  const lab = program().commands.find((c) => c.name() === 'lab')!;
  const acting = [
    'up',
    'down',
    'status',
    'restart-agents',
    'add-node',
    'remove-node',
    'switch-node',
    'demo',
    'outside',
  ];
  for (const name of acting) {
    const cmd = lab.commands.find((c) => c.name() === name);
    assert.ok(cmd, `lab ${name}`);
    // Read as words: commander wraps long descriptions at the terminal's width.
    const help = cmd.helpInformation().replace(/\s+/g, ' ');
    assert.match(help, /--name <name> the lab to act on \(default: \$WEFT_LAB, else "weft"\)/, `lab ${name} --help`);
    assert.match(help, /--lab <name> the same as --name/, `lab ${name} --help`);
  }
  assert.deepEqual(
    lab.commands
      .filter((c) => c.options.some((o) => o.long === '--name'))
      .map((c) => c.name())
      .sort(),
    [...acting].sort(),
  );
});

test('every other command with --lab documents the same fallback', () => {
  const withLab = program().commands.filter((c) => c.name() !== 'lab' && c.options.some((o) => o.long === '--lab'));
  assert.deepEqual(withLab.map((c) => c.name()).sort(), [
    'apply',
    'delete',
    'exec',
    'explain',
    'get',
    'label',
    'probe',
    'reach',
  ]);
  for (const cmd of withLab)
    assert.match(
      cmd.helpInformation().replace(/\s+/g, ' '),
      /--lab <name> the lab to act on \(default: \$WEFT_LAB, else "weft"\)/,
      cmd.name(),
    );
});

test('weft lab status acts on the lab $WEFT_LAB names, and --name over it', () => {
  const cli = fileURLToPath(new URL('./main.js', import.meta.url));
  const root = mkdtempSync(join(tmpdir(), 'weft-labname-'));
  try {
    const run = (args: string[], lab: string) =>
      spawnSync(process.execPath, [cli, 'lab', 'status', ...args], {
        env: { ...process.env, WEFT_LAB_ROOT: root, WEFT_LAB: lab },
        encoding: 'utf8',
      });
    assert.match(run([], 'xy').stderr, /lab "xy" does not exist/);
    assert.match(run(['--name', 'ab'], 'xy').stderr, /lab "ab" does not exist/);
    assert.match(run(['--lab', 'cd'], 'xy').stderr, /lab "cd" does not exist/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
