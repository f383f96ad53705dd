#!/usr/bin/env node
// The `ballast` executable (package.json "bin"). Runs from dist/ after `npm run build`, or from
// source with `node --import tsx src/cli/main.ts`.
import { run } from './program.js';

process.exitCode = await run(process.argv.slice(2));
