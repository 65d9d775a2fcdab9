#!/usr/bin/env bash
# Starts the built server for the browser tests on a fresh, throw-away data directory.
set -euo pipefail
: "${BATON_SERVER_BIN:?set BATON_SERVER_BIN to the built server binary}"
: "${BATON_SITE_ROOT:?set BATON_SITE_ROOT to the built site (target/site)}"
data_dir=$(mktemp -d -t baton-e2e-XXXXXX)
trap 'rm -rf "$data_dir"' EXIT
export BATON_DATA_DIR="$data_dir"
export BATON_LOG="${BATON_LOG:-warn}"
# A throw-away key for chat channels' credentials.
export BATON_SECRET_KEY="${BATON_SECRET_KEY:-$(head -c 32 /dev/urandom | base64)}"
password="${E2E_PASSWORD:-e2e password 123}"
# One account per role, created with the same command-line tool operators use.
for spec in "ops1:ops:Olivia Ops" "pm1:pm:Peter PM" "dev1:dev:Dana Dev" "dev2:dev:Zhou Wei" "qa1:qa:Quinn QA" "admin1:admin:Ada Admin"; do
  IFS=: read -r username role name <<<"$spec"
  printf '%s' "$password" | "$BATON_SERVER_BIN" user create --username "$username" --name "$name" \
    --email "$username@example.com" --roles "$role" --password-stdin --no-password-change >/dev/null
done
# Not exec: the trap must run to remove the data directory when Playwright stops the server.
"$BATON_SERVER_BIN" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server; rm -rf "$data_dir"' EXIT INT TERM
wait $server
