#!/usr/bin/env bash
# Measures the reports page's figures over many closed incidents with realistic timelines, on
# SQLite and PostgreSQL: seeding, then the figures of twelve weeks, of a year and of a filtered
# range, and the drawing of the charts. Prints Markdown table rows.
#
#   BENCH_INCIDENTS=100000 scripts/bench-reports.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
cargo build --release -p app --features test-support --example reports_bench
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "| back end | measure | value | |"
echo "|---|---|---|---|"
for backend in sqlite postgres; do
  RUST_LOG=off "$target_dir/release/examples/reports_bench" "$backend"
done
