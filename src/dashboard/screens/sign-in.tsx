// Sign in and out: a viewer's or operator's token, typed once, becomes a signed session cookie.
import type { Hono } from 'hono';
import { auditLine } from '../../admin/access.js';
import { CsrfField, render } from '../components.js';
import { endSession, startSession } from '../session.js';
import type { DashboardEnv, View } from '../view.js';

/** Where to go after signing in: a page of the dashboard, never another site. */
function nextPage(value: unknown): string {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') && !value.includes('\\') ? value : '/';
}

export function registerSignIn(app: Hono<DashboardEnv>): void {
  app.get('/sign-in', (c) => {
    const view = c.get('view');
    return render(c, { title: 'Sign in', children: <SignInForm view={view} next={nextPage(c.req.query('next'))} failed={false} /> });
  });

  app.post('/sign-in', async (c) => {
    const view = c.get('view');
    const { policy, logger, basePath } = view.settings;
    const form = await c.req.parseBody();
    const next = nextPage(form.next);
    const role = policy.signInEnabled && typeof form.token === 'string' ? policy.roleOfToken(form.token) : null;
    if (!role) {
      logger.info(auditLine(view.caller, 'dashboard sign-in', {}, 'refused'));
      // 200 with the form again: a browser logs any 4xx page as an error in its console.
      return render(c, { title: 'Sign in', children: <SignInForm view={view} next={next} failed={true} /> });
    }
    await startSession(c, policy, role, basePath);
    logger.info(auditLine({ ...view.caller, role, via: 'session' }, 'dashboard sign-in', {}, 'done'));
    return c.redirect(view.href(next), 303);
  });

  app.post('/sign-out', (c) => {
    const view = c.get('view');
    endSession(c, view.settings.basePath);
    return c.redirect(view.href('/'), 303);
  });
}

function SignInForm({ view, next, failed }: { view: View; next: string; failed: boolean }) {
  if (!view.settings.policy.signInEnabled) {
    return (
      <p class="notice" role="note">
        No token is configured on this server, so there is nothing to sign in with: this machine (loopback) may act, others may only read. Set
        BALLAST_ADMIN_TOKEN for operators and BALLAST_VIEWER_TOKEN for viewers, then sign in here.
      </p>
    );
  }
  return (
    <form method="post" action={view.href('/sign-in')} class="sign-in stacked">
      <CsrfField view={view} />
      <input type="hidden" name="next" value={next} />
      {failed ? (
        <p class="error-message" role="alert">
          That token is neither the operators' (BALLAST_ADMIN_TOKEN) nor the viewers' (BALLAST_VIEWER_TOKEN).
        </p>
      ) : null}
      <label>
        <span>Token</span>
        <input type="password" name="token" required autocomplete="current-password" autofocus />
      </label>
      <p class="legend">
        The operators' token (BALLAST_ADMIN_TOKEN) may act; the viewers' (BALLAST_VIEWER_TOKEN) may read everything. You stay signed in for 12 hours in
        this browser.
      </p>
      <button type="submit">Sign in</button>
    </form>
  );
}
