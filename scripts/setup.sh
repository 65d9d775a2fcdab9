#!/usr/bin/env bash
# Installs what building and running Baton needs, skipping anything already present.
# Usage: scripts/setup.sh [--test | --smtp-sink]
#   --test       also installs the test SMTP server, Chromium and the end-to-end packages
#   --smtp-sink  also installs the test SMTP server and the API contract checker only (what the
#                app and server tests need)
set -euo pipefail
cd "$(dirname "$0")/.."

# Versions are pinned here and must match Cargo.toml / Cargo.lock.
WASM_BINDGEN_VERSION=0.2.130
CARGO_LEPTOS_VERSION=0.3.11
# cargo-leptos' lock file needs a newer compiler than the default stable one; a pinned toolchain
# keeps its build reproducible. The project itself builds on the default toolchain.
CARGO_LEPTOS_TOOLCHAIN=1.97.0
BINARYEN_VERSION=132
SCHEMATHESIS_VERSION=4.32.5

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! have cargo-leptos || ! cargo-leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (builds from source; takes a while)"
  # A toolchain whose install was interrupted is listed but cannot run: reinstall it then.
  if ! rustc +"$CARGO_LEPTOS_TOOLCHAIN" --version >/dev/null 2>&1; then
    if rustup toolchain list | grep -q "^$CARGO_LEPTOS_TOOLCHAIN"; then
      rustup toolchain uninstall "$CARGO_LEPTOS_TOOLCHAIN"
    fi
    rustup toolchain install "$CARGO_LEPTOS_TOOLCHAIN" --profile minimal
  fi
  cargo +"$CARGO_LEPTOS_TOOLCHAIN" install --locked cargo-leptos --version "$CARGO_LEPTOS_VERSION" --features no_downloads
fi

if ! have wasm-bindgen || ! wasm-bindgen --version | grep -q "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if ! have wasm-opt; then
  log "installing wasm-opt (binaryen $BINARYEN_VERSION from npm)"
  npm install -g "binaryen@$BINARYEN_VERSION"
fi

# The SMTP server the mail tests talk to (scripts/smtp_sink.py): aiosmtpd from PyPI, or Debian's
# package where the system Python refuses pip installs.
install_smtp_sink() {
  if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    log "installing aiosmtpd (the test SMTP server)"
    python3 -m pip install --quiet aiosmtpd 2>/dev/null \
      || python3 -m pip install --quiet --break-system-packages aiosmtpd 2>/dev/null \
      || { sudo_if_needed=""; [ "$(id -u)" = 0 ] || sudo_if_needed=sudo
           $sudo_if_needed apt-get update -qq && $sudo_if_needed apt-get install -y -qq python3-aiosmtpd; }
  fi
}

# The intake API's contract test runs schemathesis (PyPI) against the OpenAPI document.
install_contract_checker() {
  if ! command -v schemathesis >/dev/null 2>&1 || ! schemathesis --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    log "installing schemathesis $SCHEMATHESIS_VERSION (the API contract checker)"
    python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION" 2>/dev/null \
      || python3 -m pip install --quiet --break-system-packages "schemathesis==$SCHEMATHESIS_VERSION"
  fi
}

# The server tests run two instances behind a real nginx (Debian's package; not started as a
# service here, the test starts its own).
install_nginx() {
  if [ ! -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null 2>&1; then
    log "installing nginx (the reverse proxy of the multi-instance test)"
    sudo_if_needed=""; [ "$(id -u)" = 0 ] || sudo_if_needed=sudo
    $sudo_if_needed apt-get update -qq
    $sudo_if_needed apt-get install -y -qq nginx
  fi
}

if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--smtp-sink" ]; then
  install_smtp_sink
  install_contract_checker
  install_nginx
fi

if [ "${1:-}" = "--test" ]; then
  # Chromium, and a CJK font so Chinese text renders in screenshots instead of empty boxes.
  if ! have chromium || ! fc-list 2>/dev/null | grep -qi 'Noto Sans CJK'; then
    log "installing Chromium and CJK fonts (Debian packages)"
    sudo_if_needed=""; [ "$(id -u)" = 0 ] || sudo_if_needed=sudo
    $sudo_if_needed apt-get update -qq
    $sudo_if_needed apt-get install -y -qq chromium fonts-noto-cjk
  fi
  if [ ! -d end2end/node_modules/@playwright/test ]; then
    log "installing end-to-end test packages"
    # Playwright must never download its own browser: Debian's Chromium is used.
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi
fi
log "toolchain ready"
