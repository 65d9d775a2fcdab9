#!/usr/bin/env bash
# Measures what an anonymous flood costs: cross-site sign-in posts (each refused and, before
# coalescing, each recorded in the audit log) offered at a fixed rate (BENCH_FLOOD_RATE per second
# over 8 connections, default 1000; 0: as fast as the answers come), while the incident page is
# measured signed in at 8 connections. Per server build: the incident page alone,
# then under a flood from one address, then under a flood from 10,000 rotating addresses (behind
# a trusted proxy's X-Forwarded-For); audit rows written per second of flood. Builds alternate
# within each row so drift hits them alike. Prints Markdown.
#
#   BENCH_SERVERS="before=/path/to/old/server after=target/release/server" scripts/bench-flood.sh [seconds=10]
#   BENCH_BACKENDS="sqlite postgres" BENCH_SEEDER=target/release/examples/workflow_bench ...
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
flood_rate="${BENCH_FLOOD_RATE:-1000}"
base_port="${BENCH_PORT:-3310}"
pg_admin="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export PATH="$HOME/.cargo/bin:$PATH"
command -v wrk >/dev/null || { if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk; else sudo apt-get install -y -qq wrk; fi; }
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if [ -z "${BENCH_SERVERS:-}" ]; then
  cargo build --release -p server
  cargo build --release -p app --features test-support --example workflow_bench
fi
seeder="${BENCH_SEEDER:-$target_dir/release/examples/workflow_bench}"
read -r -a servers <<<"${BENCH_SERVERS:-current=$target_dir/release/server}"
read -r -a backends <<<"${BENCH_BACKENDS:-sqlite}"

work=$(mktemp -d -t baton-flood-XXXXXX)
# A fixed offered rate: each of the 8 connections waits between its requests. (Closed-loop, a
# cheaper refusal would only invite more of them and the comparison would not be like for like.)
if [ "$flood_rate" -gt 0 ]; then
  echo "function delay() return $((8000 / flood_rate)) end" >"$work/pace.lua"
else
  echo "" >"$work/pace.lua"
fi
cat >"$work/one.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "username=pm1&password=not+the+password"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Origin"] = "https://attacker.example"
wrk.headers["Sec-Fetch-Site"] = "cross-site"
LUA
cat >"$work/many.lua" <<'LUA'
counter = 0
request = function()
  counter = counter + 1
  local n = counter % 10000
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Origin"] = "https://attacker.example",
    ["Sec-Fetch-Site"] = "cross-site",
    ["X-Forwarded-For"] = "10.9." .. math.floor(n / 256) .. "." .. (n % 256),
  }
  return wrk.format("POST", "/api/auth/login", headers, "username=pm1&password=not+the+password")
end
LUA

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap 'cleanup; rm -rf "$work"' EXIT

page() { # url cookie -> "req/s p50 p99"
  local out
  out=$(wrk -t1 -c8 -d"${duration}s" --latency -H "Cookie: $2" "$1")
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1 == "50%" {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")"
}

echo "| back end | flood | server | incident page req/s | p50 | p99 | flood req/s | audit rows/s |"
echo "|---|---|---|---|---|---|---|---|"
for backend in "${backends[@]}"; do
  data_dir="$work/$backend"
  mkdir -p "$data_dir/site/pkg"
  if [ "$backend" = sqlite ]; then
    url="sqlite://$data_dir/baton.sqlite3"
  else
    psql "$pg_admin" -q -c 'DROP DATABASE IF EXISTS baton_flood' -c 'CREATE DATABASE baton_flood'
    url="${pg_admin%/*}/baton_flood"
  fi
  key=$("$seeder" seed "$url" | tail -n1)
  [ "$backend" = sqlite ] && sqlite3 "$data_dir/baton.sqlite3" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
  declare -A port_of=() cookie_of=() count_of=()
  pids=()
  i=0
  for spec in "${servers[@]}"; do
    label="${spec%%=*}"; binary="${spec#*=}"
    port=$((base_port + i)); i=$((i + 1))
    if [ "$backend" = sqlite ]; then
      cp "$data_dir/baton.sqlite3" "$data_dir/copy-$i.sqlite3"
      copy="sqlite://$data_dir/copy-$i.sqlite3"
      count_of[$label]="sqlite3 $data_dir/copy-$i.sqlite3"
    else
      psql "$pg_admin" -q -c "DROP DATABASE IF EXISTS baton_flood_$i" -c "CREATE DATABASE baton_flood_$i TEMPLATE baton_flood"
      copy="${pg_admin%/*}/baton_flood_$i"
      count_of[$label]="psql $copy -tA -c"
    fi
    DATABASE_URL="$copy" BATON_LISTEN="127.0.0.1:$port" BATON_DATA_DIR="$data_dir" BATON_TRUSTED_PROXIES=127.0.0.1 \
      BATON_SITE_ROOT="$data_dir/site" BATON_LOG=error "$binary" 2>/dev/null &
    pids+=($!)
    for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    jar="$data_dir/cookies-$label"
    curl -fs -c "$jar" -o /dev/null -d 'username=pm1&password=benchmark+password' "http://127.0.0.1:$port/api/auth/login"
    port_of[$label]=$port
    cookie_of[$label]="baton_session=$(awk '$6 == "baton_session" {print $7}' "$jar")"
    # Warm the caches (database pages, allocator) before anything is measured.
    wrk -t1 -c8 -d3s -H "Cookie: ${cookie_of[$label]}" "http://127.0.0.1:$port/incidents/$key" >/dev/null
  done
  for flood in none "one address" "10,000 addresses"; do
    for spec in "${servers[@]}"; do
      label="${spec%%=*}"; port=${port_of[$label]}
      rows() { ${count_of[$label]} 'SELECT COUNT(*) FROM audit_log' | tr -d ' '; }
      flood_rps=-; rows_per_s=-
      if [ "$flood" = none ]; then
        read -r rps p50 p99 < <(page "http://127.0.0.1:$port/incidents/$key" "${cookie_of[$label]}")
      else
        script="$work/one.lua"; [ "$flood" = "one address" ] || script="$work/many.lua"
        cat "$script" "$work/pace.lua" >"$work/flood.lua"; script="$work/flood.lua"
        before=$(rows)
        wrk -t1 -c8 -d"$((duration + 1))s" -s "$script" "http://127.0.0.1:$port/api/auth/login" >"$work/flood.out" &
        flooder=$!
        sleep 0.5
        read -r rps p50 p99 < <(page "http://127.0.0.1:$port/incidents/$key" "${cookie_of[$label]}")
        wait "$flooder"
        after=$(rows)
        flood_rps=$(awk '/Requests\/sec/ {print $2}' "$work/flood.out")
        rows_per_s=$(python3 -c "print(f'{($after - $before) / ($duration + 1):.0f}')")
      fi
      echo "| $backend | $flood | $label | $rps | $p50 | $p99 | $flood_rps | $rows_per_s |"
    done
  done
  cleanup
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$backend" = postgres ]; then
    for n in $(seq "$i"); do psql "$pg_admin" -q -c "DROP DATABASE IF EXISTS baton_flood_$n"; done
    psql "$pg_admin" -q -c 'DROP DATABASE IF EXISTS baton_flood'
  fi
done
echo
echo "wrk: incident page -t1 -c8, flood -t1 -c8 (cross-site POST /api/auth/login) offered at ${flood_rate}/s (0: unpaced), ${duration} s per row, $(nproc) cores, $(date -u +%Y-%m-%d)."
