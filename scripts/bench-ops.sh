#!/usr/bin/env bash
# Measures what running Baton costs, on a release build with 100 000 seeded incidents:
#   - /metrics scraping under load: the incident page's rate at 64 connections without a scrape
#     and with one scrape a second (rounds alternate, so drift hits both alike), and the time of
#     one scrape, on SQLite and PostgreSQL;
#   - a SQLite backup (`server backup`): time and size, idle and while the incident page is under load.
# Prints Markdown.
#
#   scripts/bench-ops.sh [seconds_per_row=10] [rounds=3]
#   BENCH_SKIP_BUILD=1 BENCH_BACKENDS=sqlite scripts/bench-ops.sh 5 2
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
rounds="${2:-3}"
port="${BENCH_PORT:-3230}"
pg_admin="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
token="bench-metrics-token-0123456789"

# shellcheck source=scripts/bench-prepare.sh
source scripts/bench-prepare.sh
server="$target_dir/release/server"
read -r -a backends <<<"${BENCH_BACKENDS:-sqlite postgres}"

measure() { # url cookie -> "req/s p99"
  local out
  out=$(wrk -t2 -c64 -d"${duration}s" --latency -H "Cookie: $2" "$1")
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")"
}

pid=""
scraper=""
cleanup() { [ -n "$scraper" ] && kill "$scraper" 2>/dev/null; [ -n "$pid" ] && kill "$pid" 2>/dev/null; true; }
trap cleanup EXIT

echo "| back end | round | incident page, no scrape (req/s, p99) | with a scrape each second (req/s, p99) | one scrape (ms, median of 20) |"
echo "|---|---|---|---|---|"
backup_rows=()
for backend in "${backends[@]}"; do
  data_dir=$(mktemp -d -t baton-bench-ops-XXXXXX)
  if [ "$backend" = sqlite ]; then
    url="sqlite://$data_dir/baton.sqlite3"
  else
    psql "$pg_admin" -q -c 'DROP DATABASE IF EXISTS baton_bench_ops' -c 'CREATE DATABASE baton_bench_ops'
    url="${pg_admin%/*}/baton_bench_ops"
  fi
  key=$("$target_dir/release/examples/workflow_bench" seed "$url" | tail -n1)
  DATABASE_URL="$url" BATON_LISTEN="127.0.0.1:$port" BATON_DATA_DIR="$data_dir" BATON_SITE_ROOT=target/site \
    BATON_LOG=warn BATON_METRICS_TOKEN="$token" "$server" 2>/dev/null &
  pid=$!
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  jar="$data_dir/cookies"
  curl -fs -c "$jar" -o /dev/null -d 'username=pm1&password=benchmark+password' "http://127.0.0.1:$port/api/auth/login"
  cookie="baton_session=$(awk '$6 == "baton_session" {print $7}' "$jar")"
  page="http://127.0.0.1:$port/incidents/$key"
  metrics="http://127.0.0.1:$port/metrics"
  # Let the start-up indexing pass finish first: it would weigh on the first rounds only.
  sleep 5
  scrape_ms=$(for _ in $(seq 20); do curl -fs -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" "$metrics"; done \
    | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)] * 1000}')
  for round in $(seq "$rounds"); do
    read -r plain_rps plain_p99 < <(measure "$page" "$cookie")
    ( while true; do curl -fs -o /dev/null -H "Authorization: Bearer $token" "$metrics"; sleep 1; done ) &
    scraper=$!
    read -r scraped_rps scraped_p99 < <(measure "$page" "$cookie")
    kill "$scraper"; wait "$scraper" 2>/dev/null || true; scraper=""
    echo "| $backend | $round | $plain_rps, $plain_p99 | $scraped_rps, $scraped_p99 | $scrape_ms |"
  done
  if [ "$backend" = sqlite ]; then
    idle_start=$(date +%s.%N)
    DATABASE_URL="$url" BATON_DATA_DIR="$data_dir" BATON_LOG=warn "$server" backup --to "$data_dir/idle.sqlite3" >/dev/null
    idle_s=$(python3 -c "print(f'{$(date +%s.%N) - $idle_start:.2f}')")
    wrk -t2 -c64 -d"$((duration + 20))s" -H "Cookie: $cookie" "$page" >/dev/null &
    load=$!
    sleep 2
    busy_start=$(date +%s.%N)
    DATABASE_URL="$url" BATON_DATA_DIR="$data_dir" BATON_LOG=warn "$server" backup --to "$data_dir/busy.sqlite3" >/dev/null
    busy_s=$(python3 -c "print(f'{$(date +%s.%N) - $busy_start:.2f}')")
    kill "$load" 2>/dev/null; wait "$load" 2>/dev/null || true
    db_mb=$(python3 -c "import os; print(f'{(os.path.getsize(\"$data_dir/baton.sqlite3\") + (os.path.getsize(\"$data_dir/baton.sqlite3-wal\") if os.path.exists(\"$data_dir/baton.sqlite3-wal\") else 0)) / 1048576:.1f}')")
    backup_mb=$(python3 -c "import os; print(f'{os.path.getsize(\"$data_dir/idle.sqlite3\") / 1048576:.1f}')")
    backup_rows+=("| 100 000 incidents | $db_mb MB | $backup_mb MB | $idle_s s | $busy_s s |")
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  rm -rf "$data_dir"
  [ "$backend" = postgres ] && psql "$pg_admin" -q -c 'DROP DATABASE IF EXISTS baton_bench_ops'
done
if [ ${#backup_rows[@]} -gt 0 ]; then
  echo
  echo "| SQLite database | database + WAL | backup file | backup, idle | backup, incident page under load (64 conns) |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${backup_rows[@]}"
fi
echo
echo "wrk -t2 -c64, ${duration} s per measurement, signed in as the incident's PM, $(nproc) cores, $(date -u +%Y-%m-%d)."
