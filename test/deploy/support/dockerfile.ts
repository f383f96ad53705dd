// Reading the Dockerfile and .dockerignore, enough to check them without a Docker engine.

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  name: string | undefined;
  from: string;
  instructions: Instruction[];
}

/** Stages and their instructions (comments dropped, continuation lines joined). */
export function parseDockerfile(text: string): Stage[] {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    if (instruction.keyword === 'FROM') {
      const [from = '', as, name] = rest;
      stages.push({ from, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (instruction.keyword !== 'ARG' || stages.length > 0) {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

/** The exec form (`["node", "x.js"]`) of CMD or ENTRYPOINT as a list. */
export function execForm(instruction: Instruction | undefined): string[] | undefined {
  if (instruction === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(instruction.args);
    return Array.isArray(parsed) && parsed.every((part) => typeof part === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function last(stage: Stage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword).at(-1);
}

/** Sources of the COPY instructions that read the build context (not `--from` another stage). */
export function contextCopySources(stage: Stage): string[] {
  return stage.instructions
    .filter((instruction) => instruction.keyword === 'COPY' && !instruction.args.startsWith('--from'))
    .flatMap((instruction) => {
      const parts = instruction.args.split(/\s+/).filter((part) => !part.startsWith('--'));
      return parts.slice(0, -1);
    });
}

/**
 * Whether .dockerignore keeps `path` (relative, with `/`) out of the build context. Supports the
 * pattern forms used here: plain names, `*` within a segment, a leading `**\/`, and `!` exceptions.
 */
export function dockerIgnores(patterns: string[], path: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const regex = new RegExp(
      `^${pattern.split('/').map((segment) => (segment === '**' ? '(?:.*/)?' : `${segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}/`)).join('')}`,
    );
    if (regex.test(`${path}/`)) ignored = !negated;
  }
  return ignored;
}

export function dockerignorePatterns(text: string): string[] {
  return text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
}
