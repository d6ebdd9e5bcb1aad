#!/usr/bin/env node
// The `ig3dc` command: runs the compiled CLI in dist/ (built by `npm run build`, which
// `npm install` runs through `prepare`). `ig3dc run` first starts itself again with glibc
// malloc tunables (dist/runtime/malloc-tuning.js says why).
import { existsSync } from 'node:fs';

const main = new URL('../dist/compiler/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("ig3dc: error: the compiled CLI is missing (dist/); run 'npm run build' in the ig3dc directory\n");
  process.exit(1);
}
const { runTuned, watchParent } = await import(new URL('../dist/runtime/malloc-tuning.js', import.meta.url).href);
const code = await runTuned(process.argv.slice(2));
if (code !== undefined) process.exit(code);
watchParent();
await import(main.href);
