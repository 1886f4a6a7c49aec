#!/usr/bin/env node
// The `herald` command. It runs the compiled CLI; `npm install` builds it (the prepare script).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('Herald is not built yet: run `npm install` (or `npm run build`) in the project folder.');
  process.exit(1);
}
await import(main.href);
