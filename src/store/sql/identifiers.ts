const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function isValidIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

/** Quotes a validated identifier (schema names come from configuration). */
export function quoteIdent(name: string): string {
  if (!isValidIdentifier(name)) throw new Error(`invalid SQL identifier: ${name}`);
  return `"${name}"`;
}
