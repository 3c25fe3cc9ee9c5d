#!/usr/bin/env bash
# scale: 100 http probes at 10 ms each (10 000 samples/s in all) against one
# local nginx for 30 s, in one gameday process. Target: no skipped sample
# and lateness p99 under 2 ms on every probe.
#
# The server is nginx (one worker, `return 200`), not the fault server:
# nginx is an independent, well-optimized server, so what is measured is the
# harness and not our own test server; maxrate.sh compares against wrk on the
# same nginx.
#
# Env: PROBES (100), INTERVAL_MS (10), SECONDS_RUN (30), MAX_INFLIGHT (2),
# LATENESS_TARGET_MS (2), QUIET_WAIT_SECONDS (120), QUIET_PCT (20)
source "$(dirname "$0")/lib.sh"

PROBES=${PROBES:-100}
INTERVAL_MS=${INTERVAL_MS:-10}
SECONDS_RUN=${SECONDS_RUN:-30}
MAX_INFLIGHT=${MAX_INFLIGHT:-2}
LATENESS_TARGET_MS=${LATENESS_TARGET_MS:-2}

need_build "$GAMEDAY"
start_nginx
rate=$((PROBES * 1000 / INTERVAL_MS))
bench_header "$PROBES probes x every $INTERVAL_MS ms = $rate samples/s for $SECONDS_RUN s (nginx on 127.0.0.1:$NGINX_PORT)"

sc=$BENCH_TMP/scale.json
jr=$BENCH_TMP/scale.journal.json
gen_load_scenario "$sc" "$PROBES" "$INTERVAL_MS" "$MAX_INFLIGHT" "$SECONDS_RUN" \
  "http://127.0.0.1:$NGINX_PORT/health"
wait_quiet
load_begin
run_timed "$sc" "$jr"
load_end "$(awk -v u="$RUN_USER" -v s="$RUN_SYS" 'BEGIN { print u + s }')"
[ -s "$jr" ] || die "gameday wrote no journal (exit $RUN_RC); BENCH_KEEP=1 keeps $BENCH_TMP/gameday.log"
read -r samples ok failed skipped late dur verdict < <(journal_totals "$jr")
lat_p99=$(jq '[.probes[].latency_ms.baseline.p99 // 0] | max' "$jr")
late_med=$(jq '[.probes[].lateness_p99_ms // 0] | sort | .[length / 2 | floor]' "$jr")

awk -v s="$samples" -v ok="$ok" -v f="$failed" -v sk="$skipped" -v l="$late" \
  -v d="$dur" -v v="$verdict" -v rc="$RUN_RC" -v u="$RUN_USER" -v sy="$RUN_SYS" \
  -v w="$RUN_WALL" -v rss="$RUN_MAXRSS" -v lt="$LATENESS_TARGET_MS" \
  -v lp="$lat_p99" -v lm="$late_med" -v load="$LOAD_LINE" 'BEGIN {
    printf "verdict             %s (exit %s)\n", v, rc
    printf "samples             %d (ok %d, failed %d) in %.1f s = %.0f samples/s\n", s, ok, f, d / 1000, s / (d / 1000)
    printf "skipped             %d\n", sk
    printf "lateness p99        %.3f ms (worst probe; median probe %.3f ms)\n", l, lm
    printf "latency p99         %.3f ms (worst probe)\n", lp
    printf "harness CPU         user %.2f s + sys %.2f s over %.2f s wall = %.1f%% of one core\n", u, sy, w, (u + sy) / w * 100
    printf "harness max RSS     %.1f MB\n", rss / 1024
    printf "machine             %s\n", load
    pass = sk == 0 && l < lt && f == 0
    printf "target              skipped == 0 and lateness p99 < %s ms (and no failed sample): %s\n", lt, pass ? "PASS" : "FAIL"
    exit pass ? 0 : 1 }'
