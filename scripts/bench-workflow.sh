#!/usr/bin/env bash
# Measures the workflow engine on SQLite and PostgreSQL: gate actions per second with concurrent
# clients, and incident-list queries over many incidents. Prints Markdown table rows.
#
#   BENCH_CLIENTS=16 BENCH_SECONDS=10 BENCH_INCIDENTS=100000 scripts/bench-workflow.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
cargo build --release -p app --features test-support --example workflow_bench
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "| back end | measure | value |"
echo "|---|---|---|"
for backend in sqlite postgres; do
  RUST_LOG=off "$target_dir/release/examples/workflow_bench" "$backend"
done
