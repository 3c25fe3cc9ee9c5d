#!/usr/bin/env bash
# The demo: builds gameday, brings up the local staging stack
# (scenarios/local/stack) in a fresh run directory on free loopback ports,
# asks `gameday check` whether it is safe to demo (the readiness file and
# every scenario's steady state), runs the Design-for-Failure scenarios
# against it (instance-termination, db-failover, db-writer-crash,
# queue-backlog, queue-consumers-stopped, restore-from-backup), prints the
# report, and takes the stack down again, whatever happened (also on
# Ctrl-C). The journals, the JUnit XML and the stack's logs land in the
# output folder (default out/demo).
#
#   scripts/demo.sh [OUTDIR]
#
# GAMEDAY_STACK_BASE picks the stack's port base (default: the first free
# one from 18000 on); GAMEDAY_DEMO_BUILD the build directory (default
# build). Exit code: gameday's (0 every threshold met, 1 a threshold
# breached, 3 aborted), or 1 when the stack did not come up.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

bash scripts/deps.sh
[ -d scenarios/local/stack/queue/node_modules ] || npm ci --prefix scenarios/local/stack/queue --no-audit --no-fund --loglevel=error
build=${GAMEDAY_DEMO_BUILD:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target gameday faultserver
build=$(cd "$build" && pwd)

out=${1:-out/demo}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stack=$repo/scenarios/local/stack/stack.sh
# The rollbacks run stack.sh up from inside gameday: they must find the same
# faultserver.
export GAMEDAY_BIN_DIR=$build

# Under /tmp, not under OUTDIR: PostgreSQL and Patroni run as the postgres
# account when this runs as root, and it must be able to reach the run
# directory (a home or work directory often is not searchable by it).
tmp=$(mktemp -d /tmp/gameday-demo.XXXXXX)
chmod 0711 "$tmp"
run=$tmp/stack

stack_down() {
  local rc=$? down=0
  trap - EXIT INT TERM
  if [ -d "$run" ]; then
    echo "demo: taking the stack down"
    bash "$stack" down --dir "$run" || down=1
    # The logs tell what the stack did (HAProxy's UP/DOWN, Patroni's
    # failovers): kept next to the journals.
    rm -rf "$out/stack-log"
    [ ! -d "$run/log" ] || cp -r "$run/log" "$out/stack-log" || true
    bash "$stack" down --dir "$run" --purge || down=1
  fi
  rmdir "$tmp" 2>/dev/null || true
  if [ "$down" != 0 ]; then
    echo "demo: the stack in $run could not be stopped completely (see above)" >&2
    # A passing run must not hide a stack left running.
    [ "$rc" != 0 ] || rc=1
  fi
  exit "$rc"
}
trap stack_down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Something listens on a port of base..base+99.
span_busy() {
  local p
  for ((p = $1; p < $1 + 100; p++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0
  done
  return 1
}
base=${GAMEDAY_STACK_BASE:-}
if [ -z "$base" ]; then
  for ((base = 18000; base < 30000; base += 100)); do
    span_busy "$base" || break
  done
fi

echo "demo: bringing the local staging stack up in $run (ports $base-$((base + 99)))"
if ! bash "$stack" up --dir "$run" --base "$base"; then
  echo "demo: the stack did not come up (its logs: $out/stack-log)" >&2
  exit 1
fi

# ports.env as --var NAME=value, every one of them (the scenarios use some).
vars=()
sqs_endpoint=
while IFS= read -r line; do
  [[ $line =~ ^([A-Z0-9_]+)=\'?([^\']*)\'?$ ]] || continue
  vars+=(--var "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}")
  [ "${BASH_REMATCH[1]}" != SQS_ENDPOINT ] || sqs_endpoint=${BASH_REMATCH[2]}
done <"$run/ports.env"
# The queue scenarios use gameday's AWS client against the stack's fauxqs:
# its endpoint and dummy credentials (fauxqs checks none), as for any
# SQS-compatible endpoint.
export AWS_ENDPOINT_URL_SQS=$sqs_endpoint AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=gameday-local AWS_SECRET_ACCESS_KEY=gameday-local
unset AWS_SESSION_TOKEN AWS_PROFILE
scenarios=(
  scenarios/local/instance-termination.json
  scenarios/local/db-failover.json
  scenarios/local/db-writer-crash.json
  scenarios/local/queue-backlog.json
  scenarios/local/queue-consumers-stopped.json
  scenarios/local/restore-from-backup.json
)

# Ctrl-C reaches gameday too, which aborts the run and rolls back: the
# script waits for that, then takes the stack down (handlers, unlike ignored
# signals, are not inherited by gameday).
trap : INT TERM
set +e
echo "demo: is it safe to demo? gameday check"
"$build/gameday" check scenarios/local/readiness.json "${scenarios[@]}" \
  "${vars[@]}" --var stack_sh="$stack" --quiet \
  --json "$out/check.json" --junit "$out/check-junit.xml"
rc=$?
if [ "$rc" != 0 ]; then
  echo "demo: not ready (gameday check exit $rc): no fault injected" >&2
  exit "$rc"
fi
"$build/gameday" run "${scenarios[@]}" \
  "${vars[@]}" --var stack_sh="$stack" --out "$out"
rc=$?
set -e
echo "demo: journals, JUnit XML and the stack's logs in $out/ (gameday exit code $rc)"
exit $rc
