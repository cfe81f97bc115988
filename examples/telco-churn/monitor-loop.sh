#!/usr/bin/env bash
# The monitor-and-improve loop of the telco demo (`make demo` runs it after `charter run`):
# serve the champion, replay normal traffic, replay traffic after a 30% price rise with the
# customers' real churn as delayed feedback, then let `charter monitor` find the drift, open
# an incident, notify, retrain and promote or refuse the challenger.
set -euo pipefail
BIN="${1:?usage: monitor-loop.sh <folder holding charter and python>}"
HERE="$(cd "$(dirname "$0")" && pwd)"
export COLUMNS="${COLUMNS:-150}"
export CHARTER_TOKEN="${CHARTER_TOKEN:-demo-token-not-a-secret}"
PORT="$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"

echo "== serving the champion on $URL"
"$BIN/charter" serve --charter "$HERE" --port "$PORT" >"$HERE/.charter/serve.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
"$BIN/python" - "$URL" "$SERVER" <<'PY'
import sys, time, urllib.request, os
url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the server exited; see .charter/serve.log")
    try:
        urllib.request.urlopen(url + "/ready", timeout=1)
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit("the server did not become ready in 60 s; see .charter/serve.log")
PY

echo "== replaying 2000 customers as they are"
"$BIN/python" "$HERE/replay.py" --url "$URL" --rows 0:2000
echo "== replaying 2000 customers after a 30% price rise, with their churn as feedback"
"$BIN/python" "$HERE/replay.py" --url "$URL" --rows 2000:4000 --scale MonthlyCharges=1.3 --feedback

echo "== charter monitor: windows, drift, live KPIs, incidents, notifications, retrain"
"$BIN/charter" monitor --charter "$HERE"
echo "== charter incidents"
"$BIN/charter" incidents --charter "$HERE"
echo "== notifications written by the file channel"
tail -n 3 "$HERE/.charter/notifications.jsonl"
