#!/usr/bin/env bash
# A/B of the intake path: two builds of the gateway (git revisions, or the
# working tree as "."), run alternately, each loaded as scripts/bench.sh
# loads it (64 closed-loop clients) on the embedded default and on Kafka
# (devkafka = kfake in its own process). A shared, noisy host moves the
# figures by a third from one minute to the next: compare runs of a pair,
# never a run with one from another time. Each line gives the load average
# at its start, the throughput and latency loadgen measured, and the CPU
# the gateway process used per item over the measured window (from
# /proc/PID/stat: Linux only), which moves less with the host's load than
# throughput does.
#
#   scripts/ab.sh main .                 # 3 pairs per case, 10 s a run
#   PAIRS=5 DURATION=20s scripts/ab.sh 1f87beb HEAD
#   CASES=kafka scripts/ab.sh main .
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: scripts/ab.sh OLD NEW   (git revisions; . is the working tree)" >&2; exit 2; }
PAIRS=${PAIRS:-3}
DURATION=${DURATION:-10s}
CLIENTS=${CLIENTS:-64}
CASES=${CASES:-embedded kafka}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

build() { # rev, name
  local src=$work/src-$2
  if [ "$1" = . ]; then
    go build -o "$work/$2" ./cmd/minsheng
  else
    mkdir -p "$src" && git archive "$1" | tar -x -C "$src"
    (cd "$src" && go build -o "$work/$2" ./cmd/minsheng)
  fi
}
build "$1" A
build "$2" B
go build -o "$work/loadgen" ./cmd/loadgen
go build -o "$work/devkafka" ./cmd/devkafka

sed "s/PORT/19393/" scripts/bench-kafka.yaml >"$work/kafka.yaml"

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks

run() { # build name, case
  local bin=$work/$1 data=$work/data-$RANDOM addr=127.0.0.1:18181 args=() kafka=
  if [ "$2" = kafka ]; then
    "$work/devkafka" -listen 127.0.0.1:19393 -partitions 6 >"$work/devkafka.log" 2>&1 &
    kafka=$!; pids+=("$kafka")
    sleep 0.5
    args=(--config "$work/kafka.yaml")
  fi
  local tok
  tok=$("$bin" desk add --data "$data" --name loadgen --channel newspaper 2>/dev/null)
  "$bin" run --data "$data" --listen "$addr" "${args[@]}" >"$work/gw.log" 2>&1 &
  local gw=$!; pids+=("$gw")
  for _ in $(seq 100); do curl -sf "http://$addr/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
  "$work/loadgen" -url "http://$addr" -token "$tok" -clients "$CLIENTS" -duration "$DURATION" >"$work/lg.out" &
  local lg=$!
  sleep 2 # loadgen's warm-up, not measured
  local c0; c0=$(cpu "$gw")
  wait "$lg"
  local c1; c1=$(cpu "$gw")
  kill "$gw"; wait "$gw" 2>/dev/null || true
  [ -n "$kafka" ] && { kill "$kafka"; wait "$kafka" 2>/dev/null || true; }
  rm -rf "$data"
  awk -v name="$1" -v c="$2" -v load="$load" -v ticks=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" '
    /accepted:/ { n = $2 } /throughput/ { t = $2 } /latency/ { p50 = $3; p99 = $7 }
    END { printf "%-9s %s  load %s  %6s items/s  p50 %-8s p99 %-8s  gateway %.0f µs CPU/item\n", c, name, load, t, p50, p99, n ? ticks / hz * 1e6 / n : 0 }' "$work/lg.out"
}

echo "machine: $(nproc) cores; A = $1, B = $2; $PAIRS pairs of $DURATION runs, $CLIENTS clients"
for c in $CASES; do
  for _ in $(seq "$PAIRS"); do
    run A "$c"
    run B "$c"
  done
done
