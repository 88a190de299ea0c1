// Copies the dashboard of `weft ui` into dist/ui: its own static files (src/ui: HTML, JS, CSS,
// written to run in the browser as they are, so the user needs no build step) and the libraries
// it uses, vendored from node_modules (preact, its hooks, htm, cytoscape) so that the page loads
// with no internet. src/lab/ui-server.ts serves exactly these files.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist', 'ui');
mkdirSync(join(out, 'vendor'), { recursive: true });
for (const f of readdirSync(join(root, 'src', 'ui')))
  if (/\.(html|js|css)$/.test(f)) copyFileSync(join(root, 'src', 'ui', f), join(out, f));

// Not require.resolve: htm's package exports hide its package.json and its ESM build's path.
const packageDir = (name) => join(root, 'node_modules', name);
const VENDOR = [
  ['preact', 'dist/preact.mjs', 'preact.mjs'],
  ['preact', 'hooks/dist/hooks.mjs', 'hooks.mjs'],
  ['htm', 'dist/htm.mjs', 'htm.mjs'],
  ['cytoscape', 'dist/cytoscape.esm.min.mjs', 'cytoscape.mjs'],
];
for (const [pkg, file, name] of VENDOR) copyFileSync(join(packageDir(pkg), file), join(out, 'vendor', name));
