#!/usr/bin/env bash
# Installs what is missing and runs Baton's test layers.
#
#   scripts/test.sh            every layer: lint, app (unit + database), server (HTTP), e2e
#   scripts/test.sh app        one layer (lint | app | server | e2e); several may be given
#
# Database tests run on SQLite and on PostgreSQL at TEST_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/postgres). With CI set, an unreachable PostgreSQL
# fails the run instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

layers=("$@")
[ ${#layers[@]} -gt 0 ] || layers=(lint app server e2e)

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }

needs_e2e=false
for layer in "${layers[@]}"; do [ "$layer" = e2e ] && needs_e2e=true; done
# The app and server layers talk to a real SMTP server (scripts/smtp_sink.py, aiosmtpd).
if $needs_e2e; then scripts/setup.sh --test; else scripts/setup.sh --smtp-sink; fi

ensure_postgres() {
  if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
      step "starting the local PostgreSQL server"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    fi
  fi
}

for layer in "${layers[@]}"; do
  case "$layer" in
    lint)
      step "format check"
      cargo fmt --all -- --check
      step "clippy: app (ssr + test-support), server, app (hydrate, wasm), frontend (wasm)"
      cargo clippy -p app --features test-support --all-targets -- -D warnings
      cargo clippy -p server --all-targets -- -D warnings
      cargo clippy -p app --features hydrate --target wasm32-unknown-unknown -- -D warnings
      cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
      ;;
    app)
      ensure_postgres
      step "app: unit tests and database tests on sqlite and postgres"
      cargo test -p app --features test-support
      ;;
    server)
      ensure_postgres
      step "server: HTTP tests against the real app on port 0"
      cargo test -p server
      ;;
    e2e)
      step "e2e: build the site and run Playwright in Chromium"
      # The test site (a debug build) goes beside the one scripts/run.sh serves, never over it: a
      # running app keeps the site of its own build.
      export LEPTOS_SITE_ROOT="target/test-site"
      cargo leptos build
      target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
      export BATON_SERVER_BIN="$target_dir/debug/server"
      export BATON_SITE_ROOT="$PWD/target/test-site"
      (cd end2end && npx playwright test)
      ;;
    *)
      echo "unknown layer: $layer (expected lint, app, server or e2e)" >&2
      exit 2
      ;;
  esac
done
step "all requested layers passed: ${layers[*]}"
