#!/usr/bin/env bash
# A quick look at the hot paths on embedded SQLite: durable clicks/s and postbacks/s
# (each postback creating a conversion and one delivery). Needs wrk (apt-get install wrk).
# Usage: bench/quick_edge.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-64}
work=$(mktemp -d)
port=18080
key=adm_bench_0123456789abcdef
export POSTBACK_DATABASE_URL="sqlite:///$work/bench.db" POSTBACK_ADMIN_KEY=$key
.venv/bin/postback serve --port $port --no-worker >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

api() { curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  "http://127.0.0.1:$port/api/v1/$1" -d "$2"; }
token=$(api advertisers '{"name":"bench"}' | .venv/bin/python -c 'import json,sys;print(json.load(sys.stdin)["postback_token"])')
api offers '{"advertiser_id":1,"name":"o","destination_url":"https://shop.example/?cid={click_id}&s={sub1}","revenue":10,"payout":7}' >/dev/null
api affiliates '{"name":"a"}' >/dev/null
api postbacks '{"affiliate_id":1,"url":"https://tracker.example/pb?cid={click_id}&p={payout}"}' >/dev/null

echo "== /click, $connections connections, ${seconds}s"
wrk -t1 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$port/click?offer_id=1&aff_id=1&sub1=abc" \
  | grep -E 'Requests/sec|50%|99%|requests in'
echo "clicks stored: $(sqlite3 "$work/bench.db" 'select count(*) from clicks')"

click=$(sqlite3 "$work/bench.db" 'select click_id from clicks limit 1')
cat >"$work/postback.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/postback?click_id=$click&token=$token&txid=" .. n .. "-" .. math.random(1, 1e9))
end
LUA
echo "== /postback (new conversion + delivery each), $connections connections, ${seconds}s"
wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$work/postback.lua" "http://127.0.0.1:$port" \
  | grep -E 'Requests/sec|50%|99%|requests in'
echo "conversions stored: $(sqlite3 "$work/bench.db" 'select count(*) from conversions')," \
  "deliveries owed: $(sqlite3 "$work/bench.db" 'select count(*) from deliveries')"
