#!/usr/bin/env bash
# Intake benchmark: the gateway on its embedded default and routing to a
# Kafka-protocol broker (kfake, in its own process), each loaded by
# cmd/loadgen at full concurrency (64 clients) and at a fixed 1,000 items/s.
# Gateway, broker and load generator share this machine; figures are printed,
# nothing is asserted.
#
#   scripts/bench.sh                 # 20 s per run
#   DURATION=60s scripts/bench.sh
#   BODIES=letters.jsonl scripts/bench.sh   # JSON lines {"title","body"} instead of the built-in letters
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20s}
CLIENTS=${CLIENTS:-64}
RATE=${RATE:-1000}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/minsheng" ./cmd/minsheng
go build -o "$work/loadgen" ./cmd/loadgen
go build -o "$work/devkafka" ./cmd/devkafka
bodies=()
[ -n "${BODIES:-}" ] && bodies=(-bodies "$BODIES")

wait_ready() {
  for _ in $(seq 100); do
    curl -sf "http://$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "gateway at $1 did not become ready" >&2; exit 1
}

run_case() { # name, extra args for minsheng run
  local name=$1; shift
  local data="$work/data-$name" addr=127.0.0.1:18180
  local tok
  tok=$("$work/minsheng" desk add --data "$data" --name loadgen --channel newspaper 2>/dev/null)
  "$work/minsheng" run --data "$data" --listen "$addr" "$@" >"$work/$name.log" 2>&1 &
  local gw=$!; pids+=("$gw")
  wait_ready "$addr"
  echo "== $name: $CLIENTS clients, closed loop"
  "$work/loadgen" -url "http://$addr" -token "$tok" -clients "$CLIENTS" -duration "$DURATION" "${bodies[@]}"
  echo "== $name: $RATE items/s offered"
  "$work/loadgen" -url "http://$addr" -token "$tok" -rate "$RATE" -duration "$DURATION" "${bodies[@]}"
  kill "$gw"; wait "$gw" 2>/dev/null || true
}

echo "machine: $(nproc) cores, $(uname -r); go: $(go version | cut -d' ' -f3)"
run_case embedded

"$work/devkafka" -listen 127.0.0.1:19392 -partitions 6 >"$work/devkafka.log" 2>&1 &
pids+=($!)
sleep 0.5
sed "s/PORT/19392/" scripts/bench-kafka.yaml >"$work/kafka.yaml"
run_case kafka --config "$work/kafka.yaml"
