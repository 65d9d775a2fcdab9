#!/usr/bin/env bash
# Measures the first load of the incident page as a phone on slow 4G sees it (Chromium through
# Playwright, CDP network and CPU emulation): bytes transferred cold and on a repeat visit,
# requests, and time until the page is interactive. Uses the release build (precompressed).
#
#   scripts/bench-first-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
port="${BENCH_PORT:-3220}"
export PATH="$HOME/.cargo/bin:$PATH"
scripts/setup.sh --test >/dev/null
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  cargo leptos build --release --precompress
  cargo build --release -p app --features test-support --example workflow_bench
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
data_dir=$(mktemp -d -t baton-first-load-XXXXXX)
url="sqlite://$data_dir/baton.sqlite3"
key=$("$target_dir/release/examples/workflow_bench" seed "$url" | tail -n1)
DATABASE_URL="$url" BATON_LISTEN="127.0.0.1:$port" BATON_DATA_DIR="$data_dir" BATON_SITE_ROOT="$PWD/target/site" \
  BATON_LOG=warn "$target_dir/release/server" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data_dir"' EXIT
for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
jar="$data_dir/cookies"
curl -fs -c "$jar" -o /dev/null -d 'username=pm1&password=benchmark+password' "http://127.0.0.1:$port/api/auth/login"
session=$(awk '$6 == "baton_session" {print $7}' "$jar")
(cd end2end && node bench/first-load.mjs "http://127.0.0.1:$port" "/incidents/$key" "$session")
echo
echo "Incident $key as its PM, 390x844 mobile viewport, slow 4G (1.6 Mbit/s, 150 ms RTT), CPU 4x slower, $(date -u +%Y-%m-%d)."
