#!/usr/bin/env bash
# Measures Baton's request rate and latency and the size of the WASM bundle, on this machine.
# Builds a release, starts it on a throw-away SQLite data dir and drives it with wrk, then prints
# a Markdown table to paste into docs/BENCHMARKS.md.
#
#   scripts/bench.sh [duration_seconds=15] [connections=64]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-15}"
connections="${2:-64}"
port="${BENCH_PORT:-3200}"
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh
command -v wrk >/dev/null || { if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk; else sudo apt-get install -y -qq wrk; fi; }
[ -n "${BENCH_SKIP_BUILD:-}" ] || cargo leptos build --release

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
data_dir=$(mktemp -d -t baton-bench-XXXXXX)
printf 'bench password 1' | BATON_DATA_DIR="$data_dir" BATON_LOG=warn "$target_dir/release/server" user create \
  --username bench --name Bench --email bench@example.com --roles ops --password-stdin --no-password-change >/dev/null
BATON_LISTEN="127.0.0.1:$port" BATON_DATA_DIR="$data_dir" BATON_SITE_ROOT=target/site BATON_LOG=warn \
  "$target_dir/release/server" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data_dir"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

run() { # path -> "req/s p99"
  local out
  out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency "http://127.0.0.1:$port$1")
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  echo "$rps $p99"
}

read -r const_rps const_p99 < <(run /livez)
read -r ssr_rps ssr_p99 < <(run /)

# Sign-ins at saturation (argon2id, 19 MiB, t=2), and a cheap page measured at the same time.
lua=$(mktemp --suffix .lua)
cat >"$lua" <<'LUA'
wrk.method = "POST"
wrk.body = "username=bench&password=bench+password+1"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
login_out=$(mktemp)
wrk -t1 -c16 -d"${duration}s" --latency -s "$lua" "http://127.0.0.1:$port/api/auth/login" >"$login_out" &
login_pid=$!
sleep 2
page_under_load=$(wrk -t1 -c4 -d"$((duration - 4))s" --latency "http://127.0.0.1:$port/")
wait $login_pid
login_rps=$(awk '/Requests\/sec/ {print $2}' "$login_out")
login_p99=$(awk '$1 == "99%" {print $2}' "$login_out")
login_errors=$(awk '/Non-2xx/ {print $5}' "$login_out")
page_p99=$(awk '$1 == "99%" {print $2}' <<<"$page_under_load")
page_rps=$(awk '/Requests\/sec/ {print $2}' <<<"$page_under_load")
rm -f "$lua" "$login_out"
wasm=$(ls target/site/pkg/*.wasm | head -n1)
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
share=$(python3 -c "print(f'{100*$ssr_rps/$const_rps:.0f}')")

cat <<MD
| measure | value |
|---|---|
| \`GET /livez\` (constant axum route) | ${const_rps} req/s, p99 ${const_p99} |
| \`GET /\` (SSR home page) | ${ssr_rps} req/s, p99 ${ssr_p99} |
| SSR rate as a share of the constant route | ${share} % |
| sign-ins at saturation (\`POST /api/auth/login\`, 16 connections) | ${login_rps} /s, p99 ${login_p99}, non-2xx: ${login_errors:-0} |
| \`GET /\` while sign-ins saturate the hashing pool (4 connections) | ${page_rps} req/s, p99 ${page_p99} |
| release WASM (\`$(basename "$wasm")\`) | $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzip -9 |

wrk -t2 -c${connections} -d${duration}s, $(nproc) cores, $(date -u +%Y-%m-%d).
MD
