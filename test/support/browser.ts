/// <reference lib="dom" />
// A real browser for the dashboard's tests: Debian's chromium driven by playwright-core, headless,
// with a fresh profile, and pages that record what a user would never see: CSP violations, console
// errors, uncaught exceptions and any request that left the page's origin (aborted, to prove that
// the page works offline).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const CANDIDATES = [process.env.BALLAST_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((path): path is string => !!path);

/** The browser's executable, or undefined (tests then skip, saying why). */
export function chromiumPath(): string | undefined {
  return CANDIDATES.find((path) => existsSync(path));
}

export const NO_BROWSER =
  'SKIPPED: no chromium found (install Debian\'s package: apt-get install -y chromium, as .ci/run does, or set BALLAST_CHROMIUM): the dashboard\'s browser tests did not run';

export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(NO_BROWSER);
  // playwright gives every launch a fresh temporary profile (its own --user-data-dir).
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface Watched {
  page: Page;
  cspViolations: string[];
  consoleErrors: string[];
  /** Requests to any other origin, which were aborted. */
  foreignRequests: string[];
}

/** A page whose mishaps are recorded; requests outside `origin` are aborted. */
export async function watchedPage(context: BrowserContext, origin: string): Promise<Watched> {
  const watched: Watched = { page: undefined as unknown as Page, cspViolations: [], consoleErrors: [], foreignRequests: [] };
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (url.startsWith('data:') || new URL(url).origin === origin) return route.continue();
    watched.foreignRequests.push(url);
    return route.abort();
  });
  // Runs through the DevTools protocol, so the page's CSP does not block it.
  await context.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { __csp: string[] }).__csp = seen;
    document.addEventListener('securitypolicyviolation', (event) => seen.push(`${event.violatedDirective} ${event.blockedURI}`));
  });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') watched.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => watched.consoleErrors.push(`uncaught: ${error.message}`));
  watched.page = page;
  return watched;
}

/** CSP violations the page reported since it loaded. */
export async function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []);
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page (WCAG 2.1 A and AA rules and best practices). */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }> }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.targets.join(', ')}`);
}
