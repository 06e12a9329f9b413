#!/usr/bin/env bash
# Log volume of the access trail ("Who sees complainants' identities"): the
# gateway on its embedded default, cmd/loadgen posting letters with named
# complainants (16 clients, closed loop) for DURATION, then one reader desk
# leasing every queue 100 messages at a time and acking each batch until
# all read empty; once at log.level info (the trail on) and once at warn
# (the trail off). Prints, for each, the letters posted and their rate, the
# messages leased and acked and their rate, and the log's bytes while
# posting and while reading (per message read). Gateway, load generator and
# reader share this machine; nothing is asserted.
#
#   scripts/access-trail-bench.sh              # 7 s of posting a run (about 20,000 letters on 2 cores)
#   DURATION=20s KEEP=/tmp/trail scripts/access-trail-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-7s}
CLIENTS=${CLIENTS:-16}
work=$(mktemp -d)
pids=()
# KEEP=DIR keeps the gateways' logs there.
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$work"/*.log "$KEEP"/; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/minsheng" ./cmd/minsheng
go build -o "$work/loadgen" ./cmd/loadgen
queues=media_oversight,petition,gov_service,discipline,rejected,review,dead_letter

# drain reads every queue, 100 messages at a time, acking each batch, on one
# keep-alive connection, until the poster has ended (the file $2 exists) and
# every queue reads empty. Prints the messages acked.
drain() {
  python3 - "$1" "$2" "$3" "$queues" <<'PY'
import http.client, json, os, sys, time
addr, done_file, tok, queues = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
c = http.client.HTTPConnection(addr)
h = {"Authorization": "Bearer " + tok}
def ask(method, path, body=None):
    hh = dict(h)
    if body is not None:
        hh["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=hh)
    r = c.getresponse()
    b = r.read()
    if r.status != 200:
        sys.exit(f"{method} {path}: {r.status} {b[:200]!r}")
    return json.loads(b)
total = 0
while True:
    empty = True
    for q in queues:
        ids = [m["envelope"]["id"] for m in ask("GET", f"/v1/queues/{q}?max=100&lease=60s")["messages"]]
        if ids:
            empty = False
            total += ask("POST", f"/v1/queues/{q}/ack", json.dumps({"ids": ids}))["acked"]
    if empty and os.path.exists(done_file):
        break
    if empty:
        time.sleep(0.2)
print(total)
PY
}

run_case() { # name, log level
  local name=$1 level=$2 data="$work/data-$1" addr=127.0.0.1:18181
  printf 'log: {level: %s, format: json}\n' "$level" >"$work/$name.yaml"
  local tok reader
  tok=$("$work/minsheng" desk add --data "$data" --name poster --channel newspaper 2>/dev/null)
  reader=$("$work/minsheng" desk add --data "$data" --name reader --reads "$queues" 2>/dev/null)
  "$work/minsheng" run --config "$work/$name.yaml" --data "$data" --listen "$addr" >"$work/$name.log" 2>&1 &
  local gw=$!
  pids+=("$gw")
  for _ in $(seq 100); do curl -sf "http://$addr/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  local b0 b1 b2 t0 t1 acked lines
  b0=$(stat -c %s "$work/$name.log")
  "$work/loadgen" -url "http://$addr" -token "$tok" -clients "$CLIENTS" -warmup 0 -duration "$DURATION" >"$work/$name.loadgen"
  b1=$(stat -c %s "$work/$name.log")
  touch "$work/posted-$name"
  t0=$(date +%s.%N)
  acked=$(drain "$addr" "$work/posted-$name" "$reader")
  t1=$(date +%s.%N)
  b2=$(stat -c %s "$work/$name.log")
  lines=$(grep -c '"msg":"access"' "$work/$name.log" || true)
  echo "== log.level $level"
  sed 's/^/  loadgen: /' "$work/$name.loadgen"
  awk -v a="$acked" -v t0="$t0" -v t1="$t1" -v i="$((b1 - b0))" -v d="$((b2 - b1))" -v l="$lines" 'BEGIN {
    printf "  reader: %d messages leased and acked in batches of up to 100 in %.1f s (%.0f/s)\n", a, t1-t0, a/(t1-t0)
    printf "  log while posting: %d bytes; while reading: %d bytes, %d access lines, %.1f bytes a message\n", i, d, l, (a ? d/a : 0) }'
  kill "$gw"; wait "$gw" 2>/dev/null || true
}

run_case info info
run_case warn warn
