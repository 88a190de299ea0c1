/**
 * The layer checker (scripts/check-layers.mjs) on small trees made for the purpose: each rule of
 * the design refuses the import that breaks it, and a tree that keeps the rules passes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHECKER = fileURLToPath(new URL('../../scripts/check-layers.mjs', import.meta.url));

function check(files: Record<string, string>): { code: number | null; out: string } {
  const root = mkdtempSync(join(tmpdir(), 'weft-layers-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    const r = spawnSync(process.execPath, [CHECKER, '--root', root], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout + r.stderr };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const CLEAN: Record<string, string> = {
  'src/core/a.ts': "import { z } from 'zod';\nimport type { P } from '../ports/p.js';\nexport const a = z.string();\n",
  'src/core/a.test.ts': "import { test } from 'node:test';\nimport { readFileSync } from 'node:fs';\n",
  'src/ports/p.ts': "import type { A } from '../core/a.js';\nexport interface P { a: A }\n",
  'src/adapters/exec.ts': "import { spawn } from 'node:child_process';\n",
  'src/agent/x.ts': "import { a } from '../core/a.js';\nimport { spawn } from '../adapters/exec.js';\n",
  'src/testkit/p-fake.ts': "import type { P } from '../ports/p.js';\n",
  'src/agent/x.test.ts': "import { fake } from '../testkit/p-fake.js';\n",
};

test('a tree that keeps every rule passes', () => {
  const r = check(CLEAN);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /layer rules: ok/);
});

const BROKEN: Array<{ name: string; file: string; text: string; says: RegExp }> = [
  {
    name: 'core imports a node module',
    file: 'src/core/b.ts',
    text: "import { readFileSync } from 'node:fs';\n",
    says: /src\/core\/b\.ts:1: imports node:fs: the core is pure/,
  },
  {
    name: 'core imports an adapter',
    file: 'src/core/b.ts',
    text: "import { spawn } from '../adapters/exec.js';\n",
    says: /the core imports only the core and the ports, not src\/adapters/,
  },
  {
    name: 'core imports an npm package that does I/O',
    file: 'src/core/b.ts',
    text: "import Database from 'better-sqlite3';\n",
    says: /the core may use only/,
  },
  {
    name: 'a port imports a value',
    file: 'src/ports/q.ts',
    text: "import { a } from '../core/a.js';\n",
    says: /ports hold only interfaces and types \(use import type\)/,
  },
  {
    name: 'a port exports a class',
    file: 'src/ports/q.ts',
    text: 'export class QError extends Error {}\n',
    says: /exports class QError: ports hold only interfaces and types/,
  },
  {
    name: 'a module other than exec starts processes',
    file: 'src/adapters/other.ts',
    text: "\n\nimport { spawn } from 'node:child_process';\n",
    says: /src\/adapters\/other\.ts:3: imports node:child_process: only src\/adapters\/exec\.ts/,
  },
  {
    name: 'the agent imports the lab',
    file: 'src/agent/y.ts',
    text: "import { up } from '../lab/lab.js';\n",
    says: /the agent must not depend on the lab/,
  },
  {
    name: 'the agent imports the lab logic of the core',
    file: 'src/agent/y.ts',
    text: "import { statusOf } from '../core/lab/views.js';\n",
    says: /the agent must not depend on the lab/,
  },
  {
    name: 'production code imports a fake',
    file: 'src/agent/y.ts',
    text: "import { fake } from '../testkit/p-fake.js';\n",
    says: /src\/testkit\) are for tests only/,
  },
  {
    name: 'an adapter imports the agent',
    file: 'src/adapters/z.ts',
    text: "import { x } from '../agent/x.js';\n",
    says: /adapters sit below the agent/,
  },
];

for (const c of BROKEN) {
  test(`refused: ${c.name}`, () => {
    const r = check({ ...CLEAN, [c.file]: c.text });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, c.says);
  });
}
