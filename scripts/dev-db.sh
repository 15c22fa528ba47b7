#!/usr/bin/env bash
# Recreates the development database that `sqlx::query!` checks queries against at build time
# (`DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/regent_dev) and applies every
# migration. Run it after adding a migration, then `scripts/sqlx-prepare.sh` to refresh `.sqlx/`.
set -euo pipefail
cd "$(dirname "$0")/.."
url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/regent_dev}
db=${url##*/}
admin=${url%/*}/postgres
psql "$admin" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "CREATE DATABASE \"$db\"" >/dev/null
for f in migrations/*.up.sql; do
    psql "$url" -v ON_ERROR_STOP=1 -q -f "$f" >/dev/null
done
echo "recreated $db with $(ls migrations/*.up.sql | wc -l) migration(s)" >&2
