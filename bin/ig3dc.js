#!/usr/bin/env node
// The `ig3dc` command: runs the compiled CLI in dist/ (built by `npm run build`, which
// `npm install` runs through `prepare`).
import { existsSync } from 'node:fs';

const main = new URL('../dist/compiler/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("ig3dc: error: the compiled CLI is missing (dist/); run 'npm run build' in the ig3dc directory\n");
  process.exit(1);
}
await import(main.href);
