// The layering rules of ../shared/DESIGN.md and STYLE.md, checked on every import in src/:
// a pure core, ports that are only types, one process boundary, an agent that knows nothing of
// the lab, and test kits that production code never loads. Run by `npm run lint` (and so by
// `npm test` and CI); exits 1 and names every file, import and rule it broke.
//
// Why a script of our own and not an eslint plugin: the rules are about where a module sits in
// our tree (src/core, src/ports, …), which a dozen lines of path logic say more plainly than
// eslint's glob-based no-restricted-imports, and the message can say which rule of the design
// was crossed.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

// `--root DIR` checks another tree laid out the same way (the checker's own test uses it).
const rootAt = process.argv.indexOf('--root');
const ROOT = rootAt > 0 ? resolve(process.argv[rootAt + 1]) : resolve(dirname(new URL(import.meta.url).pathname), '..');
const SRC = join(ROOT, 'src');

/** npm packages the pure core may use: they do no I/O. */
const CORE_PACKAGES = new Set(['zod', 'yaml']);

function walk(dir, out = []) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every import of a file: its specifier, whether it is type-only, and its line. */
function importsOf(text) {
  const found = [];
  const re =
    /^[ \t]*(import|export)\s+(type\s+)?(?:([^'";]*?)\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
  let m;
  while ((m = re.exec(text)) !== null) {
    const spec = m[4] ?? m[5];
    const line = text.slice(0, m.index + m[0].search(/\S/)).split('\n').length;
    // `import { type A, type B } from` is type-only too; a default or namespace import never is.
    const clause = (m[3] ?? '').trim();
    const names = /^\{([^}]*)\}$/
      .exec(clause)?.[1]
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean);
    const typeOnly =
      Boolean(m[2]) || (names !== undefined && names.length > 0 && names.every((n) => n.startsWith('type ')));
    found.push({ spec, typeOnly, line });
  }
  return found;
}

/** The area of a path under src/: core, ports, adapters, agent, cni, lab, cli, testkit, types. */
function areaOf(abs) {
  const rel = relative(SRC, abs).split(sep);
  if (rel[0] === 'core' && rel[1] === 'lab') return 'core/lab';
  return rel[0];
}

const problems = [];
for (const file of walk(SRC)) {
  const rel = relative(ROOT, file);
  const area = areaOf(file);
  const isTest = file.endsWith('.test.ts');
  const text = readFileSync(file, 'utf8');
  const fail = (line, rule) => problems.push(`${rel}:${line}: ${rule}`);
  for (const { spec, typeOnly, line } of importsOf(text)) {
    const isRelative = spec.startsWith('.');
    const target = isRelative ? resolve(dirname(file), spec) : undefined;
    const targetArea = target ? areaOf(target) : undefined;
    const isNode = spec.startsWith('node:') || ['child_process', 'fs', 'net', 'os', 'path', 'http'].includes(spec);
    if (
      (spec === 'node:child_process' || spec === 'child_process') &&
      !isTest &&
      rel !== join('src', 'adapters', 'exec.ts')
    ) {
      fail(line, `imports ${spec}: only src/adapters/exec.ts (the process boundary) may start processes`);
    }
    if (targetArea === 'testkit' && !isTest && area !== 'testkit') {
      fail(line, `imports ${spec}: fakes and contract suites (src/testkit) are for tests only`);
    }
    if (area === 'core' || area === 'core/lab') {
      if (isTest) continue;
      if (isNode)
        fail(line, `imports ${spec}: the core is pure (no node:* modules; do I/O in an adapter behind a port)`);
      else if (!isRelative && !CORE_PACKAGES.has(spec.split('/')[0]))
        fail(line, `imports ${spec}: the core may use only ${[...CORE_PACKAGES].join(', ')} among npm packages`);
      else if (targetArea && !['core', 'core/lab', 'ports'].includes(targetArea))
        fail(line, `imports ${spec}: the core imports only the core and the ports, not src/${targetArea}`);
      if (area === 'core' && targetArea === 'core/lab')
        fail(line, `imports ${spec}: core outside core/lab must not depend on the lab's logic`);
    }
    if (area === 'ports') {
      if (!typeOnly)
        fail(line, `imports ${spec} for its values: ports hold only interfaces and types (use import type)`);
      if (targetArea && !['core', 'ports'].includes(targetArea))
        fail(line, `imports ${spec}: ports may refer only to core types and other ports`);
    }
    if (area === 'agent' && !isTest && (targetArea === 'lab' || targetArea === 'core/lab' || targetArea === 'cli')) {
      fail(line, `imports ${spec}: the agent must not depend on the lab or the CLI (it runs on real clusters too)`);
    }
    if (area === 'adapters' && !isTest && targetArea && ['agent', 'lab', 'cli', 'core/lab'].includes(targetArea)) {
      fail(line, `imports ${spec}: adapters sit below the agent, the lab and the CLI`);
    }
  }
  if (area === 'ports') {
    const re = /^export\s+(?:abstract\s+)?(class|function|const|let|var|enum)\s+(\w+)/gm;
    let m;
    while ((m = re.exec(text)) !== null) {
      const line = text.slice(0, m.index).split('\n').length;
      fail(line, `exports ${m[1]} ${m[2]}: ports hold only interfaces and types (put values in core or an adapter)`);
    }
  }
}

if (problems.length > 0) {
  process.stderr.write(`layer rules broken (${problems.length}):\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write('layer rules: ok\n');
