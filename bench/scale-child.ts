// One scale measurement in a process of its own (so its memory and its database sessions are its
// alone): imports a module, calls one exported function with a JSON argument and prints what it
// resolves to as one JSON line. Run by bench/scale.ts:
//
//   node --import tsx bench/scale-child.ts <module path> <export name> '<json argument>'

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [modulePath, exportName, argument] = process.argv.slice(2);
if (modulePath === undefined || exportName === undefined || argument === undefined) {
  throw new Error('usage: bench/scale-child.ts <module path> <export name> <json argument>');
}
const module = (await import(pathToFileURL(resolve(modulePath)).href)) as Record<string, unknown>;
const measure = module[exportName];
if (typeof measure !== 'function') throw new Error(`${modulePath} exports no function ${exportName}`);
const result: unknown = await measure(JSON.parse(argument));
process.stdout.write(`${JSON.stringify(result)}\n`);
// A measurement may leave timers or sockets of the system it measured; its answer is all we need.
process.exit(0);
