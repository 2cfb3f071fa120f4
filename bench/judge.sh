#!/usr/bin/env bash
# What an LLM judge does to precision and recall on the labeled sets: each set in
# tests/data/ scored with `seedstream score` (release) as the tests score it, then again
# with the judge on (`--judge URL --judge-model MODEL`), per defect side by side.
#
#   bench/judge.sh URL [MODEL]                  # any OpenAI-compatible chat endpoint
#   SETS="blind2 fresh" bench/judge.sh URL      # some sets only (default: all five)
#   JUDGE_CONCURRENCY=1 JUDGE_TIMEOUT_MS=600000 bench/judge.sh http://127.0.0.1:8011 qwen
#                                               # scripts/judge-server.sh on this CPU
#
# JUDGE_CONCURRENCY (default 8) and JUDGE_TIMEOUT_MS (default 60000) set the judge's
# requests in flight and per-request timeout: a single CPU server answers one request at
# a time, so give it 1 and a long timeout. Verdicts are cached in each output directory
# (OUT, default a temporary one; KEEP=1 keeps it), so a rerun with the same OUT asks
# the judge nothing again.
set -euo pipefail
cd "$(dirname "$0")/.."
URL="${1:?usage: bench/judge.sh URL [MODEL]}"
MODEL="${2:-default}"
SETS="${SETS:-eval holdout blind fresh blind2}"
cargo build --release --locked --quiet
BIN="$PWD/target/release/seedstream"
if [ -n "${OUT:-}" ]; then
  work="$OUT"; mkdir -p "$work"
else
  work="$(mktemp -d)"
  trap '[ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"' EXIT
fi
for set in $SETS; do
  data="$PWD/tests/data/$set"
  [ -f "$data/job.yaml" ] || { echo "bench/judge.sh: no labeled set $data" >&2; exit 2; }
  mkdir -p "$work/$set"
  "$BIN" score "$data/job.yaml" --input "$data/records.jsonl" --out "$work/$set/plain" 2> "$work/$set/plain.err" \
    || { cat "$work/$set/plain.err" >&2; exit 1; }
  /usr/bin/time -f '%e' -o "$work/$set/time.txt" \
    "$BIN" score "$data/job.yaml" --input "$data/records.jsonl" --out "$work/$set/judged" \
      --judge "$URL" --judge-model "$MODEL" \
      --judge-concurrency "${JUDGE_CONCURRENCY:-8}" --judge-timeout-ms "${JUDGE_TIMEOUT_MS:-60000}" \
      2> "$work/$set/judged.err" \
    || { cat "$work/$set/judged.err" >&2; exit 1; }
done
python3 - "$work" "$PWD/tests/data" $SETS <<'PY'
import json, sys
work, data, sets = sys.argv[1], sys.argv[2], sys.argv[3:]
DEFECTS = ["unfaithful", "off_topic", "near_duplicate", "pii", "copied"]

def predicted(codes):
    # tests/eval.rs's order: the most specific reason names the defect.
    has = lambda xs: any(c in xs for c in codes)
    for names, defect in [(["pii"], "pii"), (["copied"], "copied"),
                          (["duplicate"], "near_duplicate"), (["off_topic"], "off_topic"),
                          (["contradiction", "invented_number"], "unfaithful"),
                          (["near_duplicate"], "near_duplicate"), (["unfaithful"], "unfaithful")]:
        if has(names):
            return defect
    return "other" if codes else "good"

def table(out, labels):
    pred = {i: "good" for i in labels}
    for line in open(f"{out}/rejected.jsonl"):
        r = json.loads(line)
        pred[r["id"]] = predicted([x["code"] for x in r["reasons"]])
    row = {}
    for d in DEFECTS:
        tp = sum(1 for i in labels if labels[i] == d and pred[i] == d)
        pp = sum(1 for i in labels if pred[i] == d)
        ap = sum(1 for i in labels if labels[i] == d)
        row[d] = f"{tp / pp if pp else 0:.3f}/{tp / ap if ap else 0:.3f}"
    good = sum(1 for i in labels if labels[i] == "good")
    row["good kept"] = f"{sum(1 for i in labels if labels[i] == 'good' and pred[i] == 'good')}/{good}"
    return row

print(f"{'set':<8} {'judge':<6} " + " ".join(f"{d:>14}" for d in DEFECTS + ['good kept']) + "  judge requests / failures / s")
for s in sets:
    labels = {json.loads(l)["id"]: json.loads(l)["label"] for l in open(f"{data}/{s}/records.jsonl") if l.strip()}
    for mode in ("plain", "judged"):
        row = table(f"{work}/{s}/{mode}", labels)
        extra = ""
        if mode == "judged":
            m = json.load(open(f"{work}/{s}/judged/manifest.json"))
            j = m.get("judge") or {}
            wall = open(f"{work}/{s}/time.txt").read().split()[-1]
            extra = f"  {j.get('requests', 0)} / {j.get('failures', 0)} / {wall}"
        print(f"{s:<8} {'on' if mode == 'judged' else 'off':<6} " + " ".join(f"{row[d]:>14}" for d in DEFECTS + ['good kept']) + extra)
PY
