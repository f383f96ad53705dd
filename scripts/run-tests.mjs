// `npm test`: runs every test/**/*.test.ts with Node's test runner under tsx.
//
//   node scripts/run-tests.mjs                      all tests (soak tests only with BALLAST_SOAK=1)
//   node scripts/run-tests.mjs test/a.test.ts ...   only the given files
//   node scripts/run-tests.mjs --test-name-pattern=x   extra flags go to node
//
// Node 20 does not expand globs for --test, so the files are listed explicitly.

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const soak = process.env.BALLAST_SOAK === '1';

function findTests(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') found.push(...findTests(path));
    } else if (entry.name.endsWith('.test.ts') && (soak || !entry.name.endsWith('.soak.test.ts'))) {
      found.push(relative(root, path));
    }
  }
  return found.sort();
}

const args = process.argv.slice(2);
const flags = args.filter((arg) => arg.startsWith('-'));
const given = args.filter((arg) => !arg.startsWith('-'));
const files = given.length > 0 ? given.map((file) => relative(root, resolve(file))) : findTests(join(root, 'test'));

if (files.length === 0) {
  console.error('run-tests: no test files found under test/');
  process.exit(1);
}

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', ...flags, ...files],
  { cwd: root, stdio: 'inherit' },
);

// Ctrl-C reaches the runner through the terminal's process group; wait for it to finish cleaning up.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));

child.on('close', (code, signal) => {
  process.exit(code ?? (signal ? 1 : 0));
});
