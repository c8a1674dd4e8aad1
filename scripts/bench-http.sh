#!/usr/bin/env bash
# HTTP load figures for BENCHMARKS.md. Targets 127.0.0.1 only, bounded:
# each run is wrk with 2 threads, 50 connections, 10 seconds.
#   cargo build --release -p deployer && scripts/bench-http.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DEPLOYER_BIN:-target/release/deployer}
port=${PORT:-18080}
out=$(mktemp)
"$bin" demo --listen "127.0.0.1:$port" --phase-ms 100 >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q Emulator "$out" && break; sleep 0.1; done
emulator=$(awk '/Emulator/ {print $2}' "$out")
token=$(curl -sf -X POST "$emulator/_emulator/github/users" -H 'content-type: application/json' \
  -d '{"login":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

echo "## GET /healthz"
wrk -t2 -c50 -d10s --latency "http://127.0.0.1:$port/healthz"
echo
echo "## GET /api/render/my-deployments (bearer: cached GitHub identity, vault load, history query)"
wrk -t2 -c50 -d10s --latency -H "Authorization: Bearer $token" \
  "http://127.0.0.1:$port/api/render/my-deployments"
