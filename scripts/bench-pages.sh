#!/usr/bin/env bash
# Measures the SSR incident page of a release build on SQLite and PostgreSQL: one incident with a
# long timeline among 100 000 incidents, signed in, against a constant axum route (/livez) and a
# near-trivial Leptos page (/login) of the same binary, in the same run. Prints Markdown rows.
#
#   scripts/bench-pages.sh [duration_seconds=15] [connections=64]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-15}"
connections="${2:-64}"
port="${BENCH_PORT:-3210}"
pg_admin="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh
command -v wrk >/dev/null || { if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk; else sudo apt-get install -y -qq wrk; fi; }
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  cargo leptos build --release
  cargo build --release -p app --features test-support --example workflow_bench
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

run() { # url -> "req/s p99"
  local out
  out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency -H "Cookie: $cookie" "$1")
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")"
}

echo "| back end | page | req/s | p99 |"
echo "|---|---|---|---|"
for backend in sqlite postgres; do
  data_dir=$(mktemp -d -t baton-bench-XXXXXX)
  if [ "$backend" = sqlite ]; then
    url="sqlite://$data_dir/baton.sqlite3"
  else
    psql "$pg_admin" -q -c 'DROP DATABASE IF EXISTS baton_bench' -c 'CREATE DATABASE baton_bench'
    url="${pg_admin%/*}/baton_bench"
  fi
  key=$("$target_dir/release/examples/workflow_bench" seed "$url" | tail -n1)
  DATABASE_URL="$url" BATON_LISTEN="127.0.0.1:$port" BATON_DATA_DIR="$data_dir" BATON_SITE_ROOT=target/site BATON_LOG=warn \
    "$target_dir/release/server" &
  server=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  jar="$data_dir/cookies"
  curl -fs -c "$jar" -o /dev/null -d 'username=pm1&password=benchmark+password' "http://127.0.0.1:$port/api/auth/login"
  cookie="baton_session=$(awk '$6 == "baton_session" {print $7}' "$jar")"
  entries=$(curl -fs -H "Cookie: $cookie" "http://127.0.0.1:$port/incidents/$key" | grep -o 'timeline__entry' | wc -l)
  for page in "/livez" "/login" "/incidents/$key"; do
    read -r rps p99 < <(run "http://127.0.0.1:$port$page")
    label="$page"
    [ "$page" = "/incidents/$key" ] && label="/incidents/$key ($entries timeline entries)"
    echo "| $backend | \`$label\` | $rps | $p99 |"
  done
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$data_dir"
  [ "$backend" = postgres ] && psql "$pg_admin" -q -c 'DROP DATABASE IF EXISTS baton_bench'
done
echo
echo "wrk -t2 -c${connections} -d${duration}s, signed in as a PM, $(nproc) cores, $(date -u +%Y-%m-%d)."
