#!/usr/bin/env bash
# Validator throughput: `seedstream score` (release) over the labeled evaluation set's
# records repeated to N (ids made unique, so the near-duplicate index grows), with the
# lexical + MinHash checks only, then with the semantic checks on (all-MiniLM-L6-v2 in
# process, batched).
#
#   bench/validate.sh            # N=30000 lexical, N_SEMANTIC=1000 with embeddings
#
# Reports records/s (wall) and records per CPU-second (user + system): the latter is
# records/s per core.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-30000}"
N_SEMANTIC="${N_SEMANTIC:-1000}"
cargo build --release --locked --quiet
BIN="$PWD/target/release/seedstream"
work="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"' EXIT
data="$PWD/tests/data/eval"
python3 - "$data/records.jsonl" "$N" > "$work/records-lexical.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
for i in range(n):
    r = dict(recs[i % len(recs)])
    r["id"] = f"b{i:06d}"
    # Repeats differ by one word, so they are near-duplicates, not exact ones.
    r["answer"] = r["answer"] + f" (copy {i // len(recs)})" if i >= len(recs) else r["answer"]
    print(json.dumps(r))
PY
head -n "$N_SEMANTIC" "$work/records-lexical.jsonl" > "$work/records-semantic.jsonl"
cp "$data"/*.md "$data"/seeds.jsonl "$work/"
printf '%-22s %8s %10s %12s %14s\n' checks records wall_s records/s records/cpu_s
for mode in lexical semantic; do
  sed -e '/^validate:/,$d' "$data/job.yaml" > "$work/job.yaml"
  if [ "$mode" = semantic ]; then
    printf 'validate:\n  semantic:\n    backend: local\n' >> "$work/job.yaml"
  else
    printf 'validate:\n  semantic:\n    backend: none\n' >> "$work/job.yaml"
  fi
  # Load the model once before timing (first use fetches it).
  /usr/bin/time -f '%e %U %S' -o "$work/time.txt" "$BIN" score "$work/job.yaml" --input "$work/records-$mode.jsonl" --out "$work/out-$mode" 2> "$work/score.err" \
    || { cat "$work/score.err"; exit 1; }
  read -r wall user sys < "$work/time.txt"
  n=$N; [ "$mode" = semantic ] && n=$N_SEMANTIC
  python3 -c "
n=$n; wall=$wall; cpu=$user+$sys
print(f'{\"$mode\":<22} {n:8} {wall:10.2f} {n/wall:12.0f} {n/cpu:14.0f}')"
done
