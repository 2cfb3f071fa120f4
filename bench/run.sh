#!/usr/bin/env bash
# Throughput benchmark: `seedstream run` against `seedstream sim` (a SIMULATED endpoint).
#
#   bench/run.sh                 # N=2000 at (200 ms, 64) and (50 ms, 256)
#   N=500 SETTINGS="100:32" bench/run.sh
#
# Reports, per setting, measured in one run:
#   efficiency = (N × latency / concurrency) ÷ wall time   (1.0 = the endpoint never idles)
#   CPU ms per record (user + system of the seedstream process ÷ N) and peak RSS.
# Then one row for a two-step flow (a `facts` step, then one `qa` request per fact, the
# README's example) at FLOW_SETTING (default 200:64), in requests: efficiency =
# (requests × latency / concurrency) ÷ wall time, CPU ms per request.
# Validators are on (lexical + MinHash; the semantic checks are off here, see
# bench/validate.sh).
# Note: with equal latencies no schedule beats ceil(N/C) × latency, so the best possible
# efficiency is (N/C) / ceil(N/C): 0.977 at both default settings.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-2000}"
SETTINGS="${SETTINGS:-200:64 50:256}"

cargo build --release --locked --quiet
BIN="$PWD/target/release/seedstream"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"' EXIT
python3 bench/make_corpus.py "$work"

# start_sim LATENCY CONCURRENCY: a simulator in the background; sets sim_pid and url.
start_sim() {
  "$BIN" sim --listen 127.0.0.1:0 --latency-ms "$1" --max-concurrency "$2" > "$work/sim.out" &
  sim_pid=$!
  for _ in $(seq 100); do grep -q http "$work/sim.out" && break; sleep 0.05; done
  url="$(grep -o 'http://[^ ]*' "$work/sim.out")"
}

# job_head NAME: the job's lines up to its task (the bench corpus, N records).
job_head() {
  echo "name: $1"
  echo "seed: 1"
  echo "target: $N"
  echo "shard_size: 64"
  echo "sources:"
  for f in "$work"/docs/*.md; do echo "  - path: $f"; done
  echo "chunking: {max_chars: 700, overlap_chars: 50}"
  echo "seed_examples: $work/seeds.jsonl"
}

printf '%-12s %8s %8s %10s %10s %11s %11s %9s %8s %7s %11s\n' setting ideal_s wall_s efficiency pipeline_s pipe_effic cpu_ms/rec rss_MB accepted rounds sim_cpu/req
for s in $SETTINGS; do
  lat="${s%%:*}"; conc="${s##*:}"
  start_sim "$lat" "$conc"
  {
    job_head bench
    echo "task: {kind: qa, few_shot: 2}"
    echo "model: {backend: openai, endpoints: [\"$url\"], name: seedstream-sim, concurrency: $conc, timeout_ms: 30000}"
    echo "validate: {semantic: {backend: none}}"
  } > "$work/job.yaml"
  out="$work/out-$lat-$conc"
  /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" "$BIN" run "$work/job.yaml" --out "$out" --quiet 2> "$work/run.err" \
    || { cat "$work/run.err"; exit 1; }
  sim_ticks="$(awk '{print $14 + $15}' /proc/$sim_pid/stat)"
  kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true
  read -r wall user sys rss_kb < "$work/time.txt"
  python3 - "$N" "$lat" "$conc" "$wall" "$user" "$sys" "$rss_kb" "$out/manifest.json" "$sim_ticks" "$(getconf CLK_TCK)" <<'PY'
import json, sys
n, lat, conc = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
wall, user, sys_, rss = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
m = json.load(open(sys.argv[8]))
ideal = n * lat / 1000 / conc
pipe = m["wall_ms"] / 1000
print(f"{int(lat)}ms/{conc:<6} {ideal:8.3f} {wall:8.3f} {ideal / wall:10.3f} {pipe:10.3f} {ideal / pipe:11.3f} "
      f"{(user + sys_) * 1000 / n:11.3f} {rss / 1024:9.1f} {m['counts']['accepted']:8} {m['counts']['rounds']:7} "
      f"{int(sys.argv[9]) / int(sys.argv[10]) * 1000 / n:11.3f}")
PY
done

# The two-step flow, in requests.
s="${FLOW_SETTING:-200:64}"
lat="${s%%:*}"; conc="${s##*:}"
start_sim "$lat" "$conc"
{
  job_head bench-flow
  cat <<'YAML'
task:
  kind: flow
  record:
    question: {type: string, role: question}
    answer: {type: string, role: claim}
  steps:
    - name: facts
      prompt: "List up to three facts stated in this text:\n{{ chunk }}"
      output:
        facts: {type: list, items: string, max_items: 3}
    - name: qa
      for_each: facts
      prompt: "Write a question answered by this fact: {{ item }}\nText:\n{{ chunk }}"
      output: [question, answer]
validate: {semantic: {backend: none}}
YAML
  echo "model: {backend: openai, endpoints: [\"$url\"], name: seedstream-sim, concurrency: $conc, timeout_ms: 30000}"
} > "$work/flow.yaml"
out="$work/out-flow"
/usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" "$BIN" run "$work/flow.yaml" --out "$out" --quiet 2> "$work/run.err" \
  || { cat "$work/run.err"; exit 1; }
requests="$(curl -s "$url/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests_total"])')"
kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true
read -r wall user sys rss_kb < "$work/time.txt"
printf '%-12s %8s %8s %10s %11s %9s %8s %7s %9s\n' flow ideal_s wall_s efficiency cpu_ms/req rss_MB accepted rounds requests
python3 - "$requests" "$lat" "$conc" "$wall" "$user" "$sys" "$rss_kb" "$out/manifest.json" <<'PY'
import json, sys
r, lat, conc = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
wall, user, sys_, rss = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
m = json.load(open(sys.argv[8]))
ideal = r * lat / 1000 / conc
print(f"{int(lat)}ms/{conc:<6} {ideal:8.3f} {wall:8.3f} {ideal / wall:10.3f} {(user + sys_) * 1000 / r:11.3f} "
      f"{rss / 1024:9.1f} {m['counts']['accepted']:8} {m['counts']['rounds']:7} {r:9}")
PY
