// A module resolve hook for the compiled CLI loading a TypeScript pass module: the module's
// imports of the package's own sources (`../../passes/index.ts`) go to their compiled
// counterparts in dist/, so the pass registers into the registry the CLI runs, not into a
// second copy of it.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIST = new URL('../../', import.meta.url);
const ROOT = new URL('../', DIST);
const SOURCE_DIRS = /^(ir|compiler|passes|runtime)\/.*\.ts$/;

interface ResolveContext {
  parentURL?: string;
}
interface ResolveResult {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}

export async function resolve(
  specifier: string,
  context: ResolveContext,
  nextResolve: (specifier: string, context: ResolveContext) => Promise<ResolveResult>,
): Promise<ResolveResult> {
  if ((specifier.startsWith('./') || specifier.startsWith('../')) && context.parentURL?.startsWith('file:')) {
    const target = new URL(specifier, context.parentURL).href;
    const rel = target.startsWith(ROOT.href) ? target.slice(ROOT.href.length) : '';
    if (SOURCE_DIRS.test(rel)) {
      const compiled = new URL(rel.replace(/\.ts$/, '.js'), DIST);
      if (existsSync(fileURLToPath(compiled))) return { url: compiled.href, format: 'module', shortCircuit: true };
    }
  }
  return nextResolve(specifier, context);
}
