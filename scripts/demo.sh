#!/usr/bin/env bash
# The demo: builds gameday, starts the project's fault test server on
# loopback (free ports), runs the scenarios of scenarios/local/faultserver/
# against it, prints the report, and stops the server. Journals and JUnit XML
# land in the output folder (default out/demo).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target gameday faultserver

out=${1:-out/demo}
mkdir -p "$out"
run=$(mktemp -d)
./build/faultserver --port-file "$run/ports" --pidfile "$run/faultserver.pid" \
  >"$run/faultserver.log" 2>&1 &
fs=$!
stop_server() {
  kill -CONT "$fs" 2>/dev/null || true
  kill -TERM "$fs" 2>/dev/null || true
  wait "$fs" 2>/dev/null || true
  rm -rf "$run"
}
trap stop_server EXIT
for _ in $(seq 100); do [ -s "$run/ports" ] && break; sleep 0.05; done
[ -s "$run/ports" ] || { echo "demo: the fault server did not start:" >&2; cat "$run/faultserver.log" >&2; exit 1; }
read -r port ctl <"$run/ports"
echo "demo: fault server pid $fs on 127.0.0.1:$port (control $ctl)"

set +e
./build/gameday run scenarios/local/faultserver/*.json \
  --var port="$port" --var ctl="$ctl" --var pidfile="$run/faultserver.pid" \
  --out "$out"
rc=$?
set -e
echo "demo: journals and JUnit XML in $out/ (exit code $rc)"
exit $rc
