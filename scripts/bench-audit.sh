#!/usr/bin/env bash
# Measures the audit log with a million entries on SQLite and PostgreSQL: page times at the head,
# deep in the log and with filters, and chain verification throughput. Prints Markdown rows.
#
#   BENCH_AUDIT_ENTRIES=1000000 scripts/bench-audit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
cargo build --release -p app --features test-support --example audit_bench
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "| back end | measure | value |"
echo "|---|---|---|"
for backend in sqlite postgres; do
  RUST_LOG=off "$target_dir/release/examples/audit_bench" "$backend"
done
