#!/usr/bin/env bash
# Measures pages of a release build on SQLite and PostgreSQL, in one run: a constant axum route
# (/livez), the near-trivial Leptos page (/login) anonymous and signed in, and the incident page
# (one incident with a long timeline among 100 000 incidents), signed in as its PM, each at 64 and
# 8 connections. Several server builds (or the same build with another allocator preloaded) can
# be compared: they run side by side, each on its own copy of the same seeded database, and every
# measurement alternates between them, so drift on a shared machine hits all of them alike.
# Prints Markdown.
#
#   scripts/bench-pages.sh [seconds_per_row=10]
#   BENCH_SERVERS="before=/path/to/old/server#7 after=target/release/server" scripts/bench-pages.sh
#   BENCH_SERVERS="glibc=target/release/server jemalloc=target/release/server@/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
#   BENCH_BACKENDS=sqlite BENCH_SKIP_BUILD=1 scripts/bench-pages.sh 5
#
# A server is `label=binary[@library to preload][#schema version]`. The version lets a build from
# before a migration run on the seeded copy: later migrations are forgotten in that copy (only
# for migrations that need nothing from the older build, such as ones that only add or drop).
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
base_port="${BENCH_PORT:-3210}"
pg_admin="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

# shellcheck source=scripts/bench-prepare.sh
source scripts/bench-prepare.sh
read -r -a servers <<<"${BENCH_SERVERS:-current=$target_dir/release/server}"
read -r -a backends <<<"${BENCH_BACKENDS:-sqlite postgres}"

# BENCH_ACCEPT_ENCODING="gzip, deflate, br" measures what browsers get: compressed pages.
encoding="${BENCH_ACCEPT_ENCODING:-identity}"
measure() { # url cookie connections -> "req/s p50 p99"
  local out
  if [ -n "$2" ]; then
    out=$(wrk -t2 -c"$3" -d"${duration}s" --latency -H "Accept-Encoding: $encoding" -H "Cookie: $2" "$1")
  else
    out=$(wrk -t2 -c"$3" -d"${duration}s" --latency -H "Accept-Encoding: $encoding" "$1")
  fi
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1 == "50%" {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")"
}

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

echo "| back end | target | conns | server | req/s | p50 | p99 | vs anonymous /login |"
echo "|---|---|---|---|---|---|---|---|"
for backend in "${backends[@]}"; do
  data_dir=$(mktemp -d -t baton-bench-XXXXXX)
  if [ "$backend" = sqlite ]; then
    url="sqlite://$data_dir/baton.sqlite3"
  else
    psql "$pg_admin" -q -c 'DROP DATABASE IF EXISTS baton_bench' -c 'CREATE DATABASE baton_bench'
    url="${pg_admin%/*}/baton_bench"
  fi
  key=$("$target_dir/release/examples/workflow_bench" seed "$url" | tail -n1)
  [ "$backend" = sqlite ] && sqlite3 "$data_dir/baton.sqlite3" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
  declare -A port_of=() cookie_of=()
  pids=()
  i=0
  for spec in "${servers[@]}"; do
    label="${spec%%=*}"; rest="${spec#*=}"; schema=""
    [[ "$rest" == *#* ]] && { schema="${rest##*#}"; rest="${rest%#*}"; }
    binary="${rest%%@*}"; preload=""
    [ "$rest" != "$binary" ] && preload="${rest#*@}"
    port=$((base_port + i)); i=$((i + 1))
    if [ "$backend" = sqlite ]; then
      cp "$data_dir/baton.sqlite3" "$data_dir/copy-$i.sqlite3"
      copy="sqlite://$data_dir/copy-$i.sqlite3"
      forget() { sqlite3 "$data_dir/copy-$i.sqlite3" "$1"; }
    else
      psql "$pg_admin" -q -c "DROP DATABASE IF EXISTS baton_bench_$i" -c "CREATE DATABASE baton_bench_$i TEMPLATE baton_bench"
      copy="${pg_admin%/*}/baton_bench_$i"
      forget() { psql "$copy" -q -c "$1"; }
    fi
    [ -n "$schema" ] && forget "DELETE FROM _sqlx_migrations WHERE version > $schema"
    LD_PRELOAD="$preload" DATABASE_URL="$copy" BATON_LISTEN="127.0.0.1:$port" BATON_DATA_DIR="$data_dir" \
      BATON_SITE_ROOT=target/site BATON_LOG=warn "$binary" 2>/dev/null &
    pids+=($!)
    for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    jar="$data_dir/cookies-$label"
    curl -fs -c "$jar" -o /dev/null \
      -d 'username=pm1&password=benchmark+password' "http://127.0.0.1:$port/api/auth/login"
    port_of[$label]=$port
    cookie_of[$label]="baton_session=$(awk '$6 == "baton_session" {print $7}' "$jar")"
  done
  first="${servers[0]%%=*}"
  entries=$(curl -fs -H "Cookie: ${cookie_of[$first]}" "http://127.0.0.1:${port_of[$first]}/incidents/$key" | grep -o 'timeline__entry' | wc -l)
  for connections in 64 8; do
    declare -A anonymous=()
    for target in livez login-anonymous login-signed-in incident; do
      for spec in "${servers[@]}"; do
        label="${spec%%=*}"; port=${port_of[$label]}; cookie=""
        case "$target" in
          livez) path=/livez; name='`/livez`' ;;
          login-anonymous) path=/login; name='`/login`, anonymous' ;;
          login-signed-in) path=/login; cookie=${cookie_of[$label]}; name='`/login`, signed in' ;;
          incident) path="/incidents/$key"; cookie=${cookie_of[$label]}; name="incident page, signed in ($entries entries)" ;;
        esac
        read -r rps p50 p99 < <(measure "http://127.0.0.1:$port$path" "$cookie" "$connections")
        [ "$target" = login-anonymous ] && anonymous[$label]=$rps
        ratio=$(python3 -c "print(f'{100 * $rps / ${anonymous[$label]:-$rps}:.0f} %')" 2>/dev/null || echo -)
        [ "$target" = livez ] && ratio=-
        echo "| $backend | $name | $connections | $label | $rps | $p50 | $p99 | $ratio |"
      done
    done
  done
  cleanup
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$data_dir"
  if [ "$backend" = postgres ]; then
    for n in $(seq "$i"); do psql "$pg_admin" -q -c "DROP DATABASE IF EXISTS baton_bench_$n"; done
    psql "$pg_admin" -q -c 'DROP DATABASE IF EXISTS baton_bench'
  fi
done
echo
echo "wrk -t2, ${duration} s per row, Accept-Encoding: ${encoding}, signed in as the incident's PM, $(nproc) cores, $(date -u +%Y-%m-%d)."
