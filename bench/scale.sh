#!/usr/bin/env bash
# Scale benchmark: one large `seedstream run` against `seedstream sim` (a SIMULATED
# endpoint), to the end, watching its progress and memory as it goes.
#
#   bench/scale.sh                       # N=1000000 (about 10 minutes here)
#   N=100000 bench/scale.sh
#   N=1000000 LATENCY_MS=1 CONCURRENCY=256 SHARD_SIZE=64 bench/scale.sh
#
# The setting of the scale issue: shard_size 64, concurrency 256, simulator at 1 ms, the
# semantic checks off, on bench/make_corpus.py's corpus of 50 short documents.
# Reports records/s and RSS for each 100,000 slots decided (from the progress lines the
# run prints every 5 s off a terminal, and /proc every second), then wall time, CPU and
# peak RSS. A run that decides nothing for STALL_S seconds (default 120) is reported as
# a hang and killed: the benchmark fails (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000000}"
LATENCY_MS="${LATENCY_MS:-1}"
CONCURRENCY="${CONCURRENCY:-256}"
SHARD_SIZE="${SHARD_SIZE:-64}"
STALL_S="${STALL_S:-120}"

cargo build --release --locked --quiet
BIN="$PWD/target/release/seedstream"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"' EXIT
python3 bench/make_corpus.py "$work"

"$BIN" sim --listen 127.0.0.1:0 --latency-ms "$LATENCY_MS" --max-concurrency "$CONCURRENCY" > "$work/sim.out" &
for _ in $(seq 100); do grep -q http "$work/sim.out" && break; sleep 0.05; done
url="$(grep -o 'http://[^ ]*' "$work/sim.out")"
{
  echo "name: scale"
  echo "seed: 1"
  echo "target: $N"
  echo "shard_size: $SHARD_SIZE"
  echo "sources:"
  for f in "$work"/docs/*.md; do echo "  - path: $f"; done
  echo "chunking: {max_chars: 700, overlap_chars: 50}"
  echo "seed_examples: $work/seeds.jsonl"
  echo "task: {kind: qa, few_shot: 2}"
  echo "model: {backend: openai, endpoints: [\"$url\"], name: seedstream-sim, concurrency: $CONCURRENCY, timeout_ms: 30000}"
  echo "validate: {semantic: {backend: none}}"
} > "$work/job.yaml"

/usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" "$BIN" run "$work/job.yaml" --out "$work/out" \
  2> "$work/run.err" &
run_pid=$!
# The seedstream process under /usr/bin/time.
for _ in $(seq 100); do pid="$(pgrep -P "$run_pid" seedstream || true)"; [ -n "$pid" ] && break; sleep 0.05; done
start=$(date +%s.%N)
last_decided=-1; last_change=$(date +%s)
: > "$work/samples.tsv"
while kill -0 "$run_pid" 2>/dev/null; do
  rss_kb="$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
  decided="$(grep -o '[0-9]*/[0-9]* slots decided' "$work/run.err" | tail -1 | cut -d/ -f1 || true)"
  decided="${decided:-0}"
  now=$(date +%s)
  printf '%s\t%s\t%s\n' "$(echo "$(date +%s.%N) - $start" | bc)" "$decided" "$rss_kb" >> "$work/samples.tsv"
  if [ "$decided" != "$last_decided" ]; then last_decided="$decided"; last_change=$now; fi
  if [ $((now - last_change)) -ge "$STALL_S" ]; then
    echo "HANG: no slot decided for ${STALL_S}s at $decided decided; sim: $(curl -s "$url/stats")" >&2
    tail -5 "$work/run.err" >&2
    kill "$pid"; exit 1
  fi
  sleep 1
done
wait "$run_pid" || { tail -20 "$work/run.err"; exit 1; }
read -r wall user sys rss_kb < "$work/time.txt"
python3 - "$N" "$wall" "$user" "$sys" "$rss_kb" "$work/out/manifest.json" "$work/samples.tsv" <<'PY'
import json, sys
n, wall, user, sys_, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
m = json.load(open(sys.argv[6]))
rows = [tuple(float(x) for x in l.split("\t")) for l in open(sys.argv[7]) if l.strip()]
c = m["counts"]
print(f"N={n}: {c['accepted']} accepted, {c['planned']} planned, {c['rounds']} rounds; wall {wall:.1f} s, "
      f"{c['planned'] / wall:,.0f} slots/s, CPU {(user + sys_) * 1000 / c['planned']:.3f} ms/slot, peak RSS {rss / 1024:.0f} MB")
step = 100_000 if n >= 200_000 else max(10_000, n // 10)
print(f"{'decided':>10} {'slots/s':>9} {'RSS MB':>7}")
prev_t, prev_d, mark = 0.0, 0.0, step
for t, d, r in rows:
    if d >= mark:
        print(f"{int(mark):>10} {(d - prev_d) / max(t - prev_t, 1e-9):>9,.0f} {r / 1024:>7.0f}")
        prev_t, prev_d = t, d
        mark = (d // step + 1) * step
PY
