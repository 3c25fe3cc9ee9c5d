#!/usr/bin/env bash
# memory: gameday's resident set over a long run at 1 000 samples/s (10 http
# probes every 10 ms against a local nginx). Timelines are run-length encoded
# and latency histograms fixed-size, so memory should not grow with the run:
# RSS at the first checkpoint (1 minute) and at the end should stay within a
# few MB of each other.
#
#   bench/memory.sh            600 s, first checkpoint at 60 s
#   bench/memory.sh --short    60 s, first checkpoint at 15 s (a quick check)
#
# Env: MEM_SECONDS, MEM_FIRST_SECONDS (override either mode), PROBES (10),
# INTERVAL_MS (10), MEM_LIMIT_MB (3), MEM_EVERY_SECONDS (30: RSS log period),
# QUIET_WAIT_SECONDS (120), QUIET_PCT (20)
source "$(dirname "$0")/lib.sh"

if [ "${1:-}" = --short ]; then
  MEM_SECONDS=${MEM_SECONDS:-60}
  MEM_FIRST_SECONDS=${MEM_FIRST_SECONDS:-15}
elif [ -n "${1:-}" ]; then
  die "usage: bench/memory.sh [--short]"
fi
MEM_SECONDS=${MEM_SECONDS:-600}
MEM_FIRST_SECONDS=${MEM_FIRST_SECONDS:-60}
PROBES=${PROBES:-10}
INTERVAL_MS=${INTERVAL_MS:-10}
MEM_LIMIT_MB=${MEM_LIMIT_MB:-3}
MEM_EVERY_SECONDS=${MEM_EVERY_SECONDS:-30}
[ "$MEM_FIRST_SECONDS" -lt "$MEM_SECONDS" ] || die "MEM_FIRST_SECONDS must be below MEM_SECONDS"

need_build "$GAMEDAY"
start_nginx
rate=$((PROBES * 1000 / INTERVAL_MS))
bench_header "$PROBES probes x every $INTERVAL_MS ms = $rate samples/s for $MEM_SECONDS s (nginx on 127.0.0.1:$NGINX_PORT)"

sc=$BENCH_TMP/memory.json
jr=$BENCH_TMP/memory.journal.json
# Sampling goes on a little past the last checkpoint, so that it is read
# while the probes still run, not while the report is being written.
gen_load_scenario "$sc" "$PROBES" "$INTERVAL_MS" 1 $((MEM_SECONDS + 3)) \
  "http://127.0.0.1:$NGINX_PORT/health"
wait_quiet
# Started directly (not under /usr/bin/time), so $! is gameday itself.
"$GAMEDAY" run "$sc" --json "$jr" --quiet >>"$BENCH_TMP/gameday.log" 2>&1 &
gd=$!
BENCH_PIDS+=("$gd")
start=$(date +%s.%N)
load_begin

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }

# Sleeps until START + $1 seconds (bounded by the run itself).
sleep_until() {
  local left
  left=$(awk -v s="$start" -v t="$1" -v now="$(date +%s.%N)" 'BEGIN { d = s + t - now; print (d > 0 ? d : 0) }')
  run_bg sleep "$left"
  kill -0 "$gd" 2>/dev/null || die "gameday exited before t=$1 s; see $BENCH_TMP/gameday.log (BENCH_KEEP=1)"
}

printf '%8s %10s\n' t_s rss_kB
rss_first=
t=0
while :; do
  next=$(((t / MEM_EVERY_SECONDS + 1) * MEM_EVERY_SECONDS))
  # The two checkpoints are always among the lines printed.
  if [ -z "$rss_first" ] && [ "$next" -ge "$MEM_FIRST_SECONDS" ]; then next=$MEM_FIRST_SECONDS; fi
  [ "$next" -gt "$MEM_SECONDS" ] && next=$MEM_SECONDS
  sleep_until "$next"
  t=$next
  rss=$(status_kb "$gd" VmRSS)
  printf '%8d %10d\n' "$t" "$rss"
  [ -z "$rss_first" ] && [ "$t" -ge "$MEM_FIRST_SECONDS" ] && rss_first=$rss
  [ "$t" -ge "$MEM_SECONDS" ] && break
done
rss_end=$rss
hwm=$(status_kb "$gd" VmHWM)
gd_cpu=$(sed 's/^.*) //' "/proc/$gd/stat" | awk -v hz="$(getconf CLK_TCK)" '{ print ($12 + $13) / hz }')
load_end "$gd_cpu"

rc=0
wait "$gd" || rc=$?
forget_pid "$gd"
[ -s "$jr" ] || die "gameday wrote no journal (exit $rc)"
read -r samples _ failed skipped late dur verdict < <(journal_totals "$jr")

awk -v a="$rss_first" -v b="$rss_end" -v h="$hwm" -v t1="$MEM_FIRST_SECONDS" \
  -v t2="$MEM_SECONDS" -v lim="$MEM_LIMIT_MB" -v s="$samples" -v sk="$skipped" \
  -v f="$failed" -v l="$late" -v d="$dur" -v v="$verdict" -v rc="$rc" \
  -v load="$LOAD_LINE" -v cpu="$gd_cpu" 'BEGIN {
    printf "verdict             %s (exit %s)\n", v, rc
    printf "samples             %d (failed %d, skipped %d) = %.0f samples/s; lateness p99 %.3f ms\n", s, f, sk, s / (d / 1000), l
    printf "harness CPU         %.2f s over %d s = %.1f%% of one core\n", cpu, t2, cpu / t2 * 100
    printf "machine             %s\n", load
    printf "RSS at %4d s       %.1f MB (%d kB)\n", t1, a / 1024, a
    printf "RSS at %4d s       %.1f MB (%d kB)\n", t2, b / 1024, b
    printf "difference          %+.2f MB (%+d kB); peak (VmHWM) %.1f MB\n", (b - a) / 1024, b - a, h / 1024
    d = b - a; if (d < 0) d = -d
    pass = d <= lim * 1024 && v == "pass"
    printf "target              |difference| <= %s MB: %s\n", lim, pass ? "PASS" : "FAIL"
    exit pass ? 0 : 1 }'
