#!/usr/bin/env bash
# maxrate: the highest sample rate one gameday process sustains against a
# local nginx, then wrk against the same nginx for comparison.
#
# Steps up the number of http probes at INTERVAL_MS (1 ms: 1000 samples/s
# each). A step is sustained when the run passes, no sample failed, skipped
# samples are at most 1% and lateness p99 is under 2 ms on every probe. A
# failed step is run once more before giving up, so that one noisy moment on
# a shared machine does not end the climb; every step first waits (bounded)
# for the machine to be quiet (lib.sh: wait_quiet). The best sustained rate is the
# achieved rate (samples / run time) of the best sustained step.
#
# wrk then runs with one thread and as many connections as that step had
# probes: it sends the next request as soon as the previous answer arrives,
# so it is the ceiling of this machine, this nginx and this many
# connections. gameday/wrk says how close the harness gets to it.
#
# Columns: cpu is gameday's (% of one core), other the cores used meanwhile
# by everything but gameday and nginx (a busy machine explains a bad step).
#
# Env: STEPS ("1 2 4 6 8 12 16 24 32 48 64"), STEP_SECONDS (10),
# INTERVAL_MS (1), MAX_INFLIGHT (4), WRK_SECONDS (10), SKIP_LIMIT_PCT (1),
# LATENESS_TARGET_MS (2), QUIET_WAIT_SECONDS (120), QUIET_PCT (20)
source "$(dirname "$0")/lib.sh"

STEPS=${STEPS:-1 2 4 6 8 12 16 24 32 48 64}
STEP_SECONDS=${STEP_SECONDS:-10}
INTERVAL_MS=${INTERVAL_MS:-1}
MAX_INFLIGHT=${MAX_INFLIGHT:-4}
WRK_SECONDS=${WRK_SECONDS:-10}
SKIP_LIMIT_PCT=${SKIP_LIMIT_PCT:-1}
LATENESS_TARGET_MS=${LATENESS_TARGET_MS:-2}

need_build "$GAMEDAY"
need_cmd wrk
start_nginx
url=http://127.0.0.1:$NGINX_PORT/health
bench_header "probes at $INTERVAL_MS ms (max_inflight $MAX_INFLIGHT), $STEP_SECONDS s per step, nginx on 127.0.0.1:$NGINX_PORT"

# One step; prints its row and returns 0 when sustained. Sets STEP_RATE.
run_step() {
  local n=$1 try=$2 sc=$BENCH_TMP/maxrate-$1.json jr=$BENCH_TMP/maxrate-$1.journal.json
  gen_load_scenario "$sc" "$n" "$INTERVAL_MS" "$MAX_INFLIGHT" "$STEP_SECONDS" "$url"
  rm -f "$jr"
  wait_quiet
  load_begin
  run_timed "$sc" "$jr"
  load_end "$(awk -v u="$RUN_USER" -v s="$RUN_SYS" 'BEGIN { print u + s }')"
  if [ ! -s "$jr" ]; then
    printf '%6s %9s %10s %8s %9s %6s %6s %9s  %s\n' "$n" - - - - - - "exit $RUN_RC" "no journal"
    return 1
  fi
  local samples failed skipped late dur verdict row
  read -r samples _ failed skipped late dur verdict < <(journal_totals "$jr")
  row=$(awk -v n="$n" -v iv="$INTERVAL_MS" -v s="$samples" -v f="$failed" \
    -v sk="$skipped" -v l="$late" -v d="$dur" -v v="$verdict" -v u="$RUN_USER" \
    -v sy="$RUN_SYS" -v w="$RUN_WALL" -v lim="$SKIP_LIMIT_PCT" \
    -v lt="$LATENESS_TARGET_MS" -v try="$try" -v other="$LOAD_OTHER" 'BEGIN {
      skp = s + sk > 0 ? sk / (s + sk) * 100 : 100
      ok = v == "pass" && f == 0 && skp <= lim && l < lt
      why = ok ? "sustained" : v != "pass" ? "verdict " v : f > 0 ? f " failed" \
            : skp > lim ? "skipped > " lim "%" : "lateness >= " lt " ms"
      if (try > 1) why = why " (retry)"
      printf "%d %.0f|%6d %9d %10.0f %7.2f%% %9.3f %5.0f%% %6.2f %9s  %s\n", ok, s / (d / 1000),
        n, n * 1000 / iv, s / (d / 1000), skp, l, (u + sy) / w * 100, other, v, why }')
  echo "${row#*|}"
  STEP_RATE=$(cut -d'|' -f1 <<<"$row" | cut -d' ' -f2)
  [ "${row:0:1}" = 1 ]
}

printf '%6s %9s %10s %8s %9s %6s %6s %9s  %s\n' probes offered/s achieved/s skipped \
  late_p99 cpu other verdict result
best_rate=0
best_n=0
for n in $STEPS; do
  if run_step "$n" 1 || run_step "$n" 2; then
    if awk -v a="$STEP_RATE" -v b="$best_rate" 'BEGIN { exit !(a > b) }'; then
      best_rate=$STEP_RATE
      best_n=$n
    fi
  else
    break
  fi
done
[ "$best_n" != 0 ] || die "not even the first step was sustained"

echo
echo "best sustained: $best_rate samples/s ($best_n probes at $INTERVAL_MS ms)"
echo "wrk -t1 -c$best_n -d${WRK_SECONDS}s $url"
wrk_out=$BENCH_TMP/wrk.out
run_bg timeout $((WRK_SECONDS + 30)) wrk -t1 -c"$best_n" -d"${WRK_SECONDS}s" "$url" >"$wrk_out" 2>&1 ||
  die "wrk failed: $(cat "$wrk_out")"
sed 's/^/  | /' "$wrk_out"
wrk_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$wrk_out")
[ -n "$wrk_rps" ] || die "no Requests/sec in wrk's output"
awk -v g="$best_rate" -v w="$wrk_rps" 'BEGIN {
  printf "gameday %.0f/s, wrk %.0f/s, gameday/wrk = %.2f\n", g, w, g / w }'
