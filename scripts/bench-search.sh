#!/usr/bin/env bash
# Measures search over many incidents with Chinese and English text, on SQLite and PostgreSQL:
# seeding, the start-up indexing pass, then the median and p95 of each kind of query. Prints
# Markdown table rows.
#
#   BENCH_INCIDENTS=100000 scripts/bench-search.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
cargo build --release -p app --features test-support --example search_bench
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "| back end | measure | value | |"
echo "|---|---|---|---|"
for backend in sqlite postgres; do
  RUST_LOG=off "$target_dir/release/examples/search_bench" "$backend"
done
