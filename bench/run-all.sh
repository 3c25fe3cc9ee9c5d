#!/usr/bin/env bash
# Runs every benchmark one after another (they would disturb each other if
# run together) and ends with one line per benchmark: its target met or not.
# memory.sh runs in its short mode unless --full is given (10 minutes).
#
#   bench/run-all.sh [--full] 2>&1 | tee bench-results.txt
set -uo pipefail

dir=$(cd "$(dirname "$0")" && pwd)
mem_args=(--short)
case "${1:-}" in
  --full) mem_args=() ;;
  "") ;;
  *) echo "usage: bench/run-all.sh [--full]" >&2; exit 2 ;;
esac

names=(accuracy scale maxrate memory)
results=()
for name in "${names[@]}"; do
  args=()
  [ "$name" = memory ] && args=("${mem_args[@]}")
  rc=0
  # In the background so that a signal here is handled at once: the
  # benchmark is told to stop (it stops its own servers) and waited for.
  "$dir/$name.sh" "${args[@]}" &
  child=$!
  trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 130' INT
  trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM
  wait "$child" || rc=$?
  trap - INT TERM
  [ "$rc" = 130 ] || [ "$rc" = 143 ] && exit "$rc"
  results+=("$rc")
  echo
done

echo "== summary =="
worst=0
for i in "${!names[@]}"; do
  rc=${results[$i]}
  case "$rc" in
    0) what="target met" ;;
    1) what="target missed or run failed (see above)" ;;
    *) what="error (exit $rc)" ;;
  esac
  printf '%-10s %s\n' "${names[$i]}" "$what"
  [ "$rc" -gt "$worst" ] && worst=$rc
done
exit "$worst"
