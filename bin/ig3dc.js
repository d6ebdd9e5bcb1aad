#!/usr/bin/env node
// The `ig3dc` command: runs the TypeScript CLI through tsx's loader (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../compiler/cli/main.ts');
