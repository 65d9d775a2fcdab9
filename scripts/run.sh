#!/usr/bin/env bash
# Installs what is missing, builds a release of Baton and serves it on http://127.0.0.1:3000
# with the embedded SQLite database under ./data. Settings: see README.md (environment variables).
#
#   scripts/run.sh           serve; on first start an "admin" account is created and its
#                            one-time password printed on the terminal (not in the log)
#   scripts/run.sh --demo    also create one user per role (ops, pm, dev, qa, admin) and print
#                            their passwords, to try every role at once
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

cargo leptos build --release --precompress

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export BATON_SITE_ROOT="${BATON_SITE_ROOT:-target/site}"
# The key chat channels' credentials are sealed with: generated once, kept outside the data
# directory so that a copy of the database alone does not open them.
if [ -z "${BATON_SECRET_KEY:-}" ] && [ -z "${BATON_SECRET_KEY_FILE:-}" ]; then
  key_file="${XDG_CONFIG_HOME:-$HOME/.config}/baton/secret.key"
  if [ ! -s "$key_file" ]; then
    mkdir -p "$(dirname "$key_file")"
    (umask 077 && head -c 32 /dev/urandom | base64 > "$key_file")
    echo "Generated the secret key for chat channel credentials: $key_file (back it up apart from the database)"
  fi
  export BATON_SECRET_KEY_FILE="$key_file"
fi
echo "Baton is starting on http://${BATON_LISTEN:-127.0.0.1:3000} (Ctrl-C stops it)"
if [ "${1:-}" = "--demo" ]; then
  exec "$target_dir/release/server" serve --demo
fi
exec "$target_dir/release/server" "$@"
