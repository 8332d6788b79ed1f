#!/usr/bin/env node
// The `mcpgw` command: a thin launcher for the compiled CLI (packages/cli/dist).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/index.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('mcpgw: the CLI is not built yet; run `npm run build` in the repository first.\n');
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
