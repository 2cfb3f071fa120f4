#!/usr/bin/env bash
# Cluster throughput: `seedstream coordinator` + G generators + 2 validators over a real
# broker (tansu, sqlite storage) and redis-server, against `seedstream sim` (a SIMULATED
# endpoint). Compares G = 1 and G = 2 in one run.
#
#   bench/cluster.sh                       # N=2000, latency 200 ms, 32 per generator
#   N=1000 LAT=100 CONC=16 bench/cluster.sh
#
# Per G, reports:
#   records/s  = N ÷ wall time of `submit --watch` (submission to dataset written)
#   efficiency = (N × latency ÷ (G × CONC)) ÷ wall time; 1.0 = every generator keeps
#                CONC requests in flight all the time. model.concurrency is per generator
#                process, so G generators may keep G × CONC requests in flight (the
#                simulator accepts up to 256 at once here).
# Needs tansu and redis-server on PATH (scripts/test.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-2000}"
LAT="${LAT:-200}"
CONC="${CONC:-32}"

cargo build --release --locked --quiet
BIN="$PWD/target/release/seedstream"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
python3 bench/make_corpus.py "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" > /dev/null &
pids+=($!)
kafka_port="$(free_port)"
mkdir -p "$work/broker"
(cd "$work/broker" && exec tansu broker --listener-url "tcp://127.0.0.1:$kafka_port" \
  --advertised-listener-url "tcp://127.0.0.1:$kafka_port" --storage-engine sqlite://tansu.db) > /dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do tansu topic list --broker "tcp://127.0.0.1:$kafka_port" > /dev/null 2>&1 && break; sleep 0.2; done
"$BIN" sim --listen 127.0.0.1:0 --latency-ms "$LAT" --max-concurrency 256 > "$work/sim.out" &
pids+=($!)
for _ in $(seq 100); do grep -q http "$work/sim.out" && break; sleep 0.05; done
url="$(grep -o 'http://[^ ]*' "$work/sim.out")"

export SEEDSTREAM_KAFKA_BROKERS="127.0.0.1:$kafka_port"
export SEEDSTREAM_REDIS_URL="redis://127.0.0.1:$redis_port/"
export SEEDSTREAM_HTTP_LISTEN=127.0.0.1:0
export SEEDSTREAM_TOPIC_PARTITIONS=4

printf '%-11s %8s %8s %10s %10s %9s\n' generators ideal_s wall_s records/s efficiency accepted
for g in 1 2; do
  # A deployment (Redis prefix, consumer groups) and a seed of its own: no cache hits.
  export SEEDSTREAM_REDIS_PREFIX="bench$g"
  grpc_port="$(free_port)"
  "$BIN" coordinator --listen "127.0.0.1:$grpc_port" --output-dir "$work/out$g" 2> "$work/coordinator$g.log" &
  pids+=($!)
  for _ in $(seq $g); do "$BIN" generator 2> /dev/null & pids+=($!); done
  for _ in 1 2; do "$BIN" validator 2> /dev/null & pids+=($!); done
  for _ in $(seq 200); do grep -q "grpc: listening" "$work/coordinator$g.log" && break; sleep 0.05; done
  {
    echo "name: bench$g"
    echo "seed: $g"
    echo "target: $N"
    echo "shard_size: 32"
    echo "sources:"
    for f in "$work"/docs/*.md; do echo "  - path: $f"; done
    echo "chunking: {max_chars: 700, overlap_chars: 50}"
    echo "seed_examples: $work/seeds.jsonl"
    echo "task: {kind: qa, few_shot: 2}"
    echo "model: {backend: openai, endpoints: [\"$url\"], name: seedstream-sim, concurrency: $CONC, timeout_ms: 30000}"
  } > "$work/job$g.yaml"
  sleep 3 # members of the fleet find each other
  start="$(date +%s.%N)"
  "$BIN" submit "$work/job$g.yaml" --watch --quiet --coordinator "http://127.0.0.1:$grpc_port" > /dev/null 2> "$work/submit$g.err" \
    || { cat "$work/submit$g.err"; exit 1; }
  end="$(date +%s.%N)"
  python3 - "$N" "$LAT" "$CONC" "$g" "$start" "$end" "$work/out$g" <<'PY'
import glob, json, sys
n, lat, conc, g = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
wall = float(sys.argv[6]) - float(sys.argv[5])
m = json.load(open(glob.glob(sys.argv[7] + "/*/manifest.json")[0]))
ideal = n * lat / 1000 / (g * conc)
print(f"{g:<11} {ideal:8.2f} {wall:8.2f} {n / wall:10.1f} {ideal / wall:10.3f} {m['counts']['accepted']:9}")
PY
done
