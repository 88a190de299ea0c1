/**
 * For schema tests: every problem parseManifest reports for a manifest (empty when it parses),
 * so a table of cases can assert the exact messages and paths the API-server-like checks give.
 */

import { ManifestError, parseManifest } from '../core/k8s/parse.js';

export function problemsOf(text: string): string[] {
  try {
    parseManifest(text);
  } catch (err) {
    if (err instanceof ManifestError) return [...err.problems];
    throw err;
  }
  return [];
}
