// What every screen gets besides its data: who is looking and what they may do, the form token,
// where the dashboard lives (links stay under the base path), and the sources of data — the same
// management APIs the CLI and /api use.
import type { HttpBindings } from '@hono/node-server';
import type { AccessPolicy, AdminAction, Caller } from '../admin/access.js';
import type { AdminLogger } from '../admin/app.js';
import type { AdminSource } from '../admin/routes.js';
import type { PayloadView, Redact } from '../admin/views.js';

export interface DashboardSettings {
  source: () => AdminSource;
  policy: AccessPolicy;
  /** '' or the path the admin handler is mounted under, e.g. '/ops'. */
  basePath: string;
  redact: Redact | undefined;
  logger: AdminLogger;
  liveIntervalMs: number;
  waitingTooLongMs: number;
}

export interface View {
  readonly settings: DashboardSettings;
  readonly source: AdminSource;
  readonly caller: Caller;
  /** The form token every POST must carry. */
  readonly csrf: string;
  readonly payloads: PayloadView;
  /** When the page was made (all relative times are against it). */
  readonly now: number;
  /** The page's own path and query below the dashboard, e.g. "/workflows?status=ERROR". */
  readonly page: string;
  /** The path of a dashboard page with a query; empty values are left out. */
  href(path: string, query?: Record<string, string | number | undefined | null> | URLSearchParams): string;
  /** Whether controls for the action are shown (the server checks again on POST). */
  can(action: AdminAction): boolean;
}

/** The header an internal request for a page's live fragment carries (see LiveHub). */
export const FRAGMENT_HEADER = 'x-ballast-fragment';

export type DashboardEnv = { Bindings: HttpBindings; Variables: { view: View } };

export function makeView(settings: DashboardSettings, caller: Caller, csrf: string, page: string): View {
  const base = `${settings.basePath}/dashboard`;
  return {
    settings,
    source: settings.source(),
    caller,
    csrf,
    payloads: { visible: settings.policy.canReadPayloads(caller), redact: settings.redact },
    now: Date.now(),
    page,
    href(path, query) {
      const params = query instanceof URLSearchParams ? new URLSearchParams(query) : new URLSearchParams();
      if (query && !(query instanceof URLSearchParams)) {
        for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
      }
      const search = params.toString();
      return `${base}${path}${search ? `?${search}` : ''}`;
    },
    can: (action) => settings.policy.allows(caller, action),
  };
}
