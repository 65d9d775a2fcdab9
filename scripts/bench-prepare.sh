# What the page benchmarks share, sourced by them: the toolchain and wrk, a release build with the
# seeding example unless BENCH_SKIP_BUILD is set, and `target_dir` (cargo's target directory).
export PATH="$HOME/.cargo/bin:$PATH"
scripts/setup.sh >/dev/null
command -v wrk >/dev/null || { if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk; else sudo apt-get install -y -qq wrk; fi; }
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  cargo leptos build --release --precompress
  cargo build --release -p app --features test-support --example workflow_bench
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
