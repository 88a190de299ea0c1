// Bundles the CNI plugin executable (dist/src/cni/main.js, compiled by tsc) into one file,
// dist/bundle/cni.mjs, which the wrappers of `weft install-cni` exec.
// Why: a plugin is a process per pod and per command, and loading ~60 ES modules one by one
// (resolving, reading and linking each) cost more CPU than the plugin's own work; one bundled
// file loads in a fraction of that. Native modules (fs-ext) stay outside the bundle.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
await build({
  absWorkingDir: root,
  entryPoints: ['dist/src/cni/main.js'],
  outfile: 'dist/bundle/cni.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['fs-ext'],
  logLevel: 'warning',
});
