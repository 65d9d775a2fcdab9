#!/usr/bin/env bash
# Measures the intake API over HTTP on SQLite and PostgreSQL with one source token: deliveries per
# second from concurrent senders and the latency added by the idempotency check (deliveries with
# and without an external id, and repeats). Prints Markdown table rows.
#
#   BENCH_CLIENTS=16 BENCH_SECONDS=10 scripts/bench-intake.sh
#   BENCH_PROFILE=dev scripts/bench-intake.sh   # a quick check that it runs (numbers not meaningful)
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
profile="${BENCH_PROFILE:-release}"
if [ "$profile" = release ]; then
  cargo build --release -p server --example intake_bench
  dir=release
else
  cargo build -p server --example intake_bench
  dir=debug
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "| back end | measure | value |"
echo "|---|---|---|"
for backend in sqlite postgres; do
  RUST_LOG=off "$target_dir/$dir/examples/intake_bench" "$backend"
done
