#!/usr/bin/env bash
# stack.sh: the local staging stack gameday's scenarios run against, built from
# Debian's packages and kept on loopback.
#
#   stack.sh up     [--dir RUNDIR] [--base PORT] [--bin DIR] [--web N]
#   stack.sh status [--dir RUNDIR]
#   stack.sh down   [--dir RUNDIR] [--purge]
#   stack.sh leader [--dir RUNDIR]      # prints the Patroni leader: pg1 or pg2
#   stack.sh workers stop|start|status [--dir RUNDIR]  # the queue workers
#   stack.sh backup [--dir RUNDIR]      # takes a new base backup
#   stack.sh restore [--dir RUNDIR] [--time T | --time-ms MS] [--offset-ms N]
#                    [--tables T1,T2] [--keep]
#                    # point-in-time restore of tables (README.md, "Backups")
#
#   --dir RUNDIR  all state: configs, data, logs, pidfiles, ports.env
#                 (default ${GAMEDAY_STACK_DIR:-/tmp/gameday-stack})
#   --base PORT   ports PORT..PORT+99 on 127.0.0.1 (default
#                 ${GAMEDAY_STACK_BASE:-18000}); see ports.env for the layout
#   --bin DIR     where faultserver is (default $GAMEDAY_BIN_DIR, else build/
#                 of this repository)
#   --web N       web instances, 1-9 (default 3)
#   --workers N   queue workers, 1-9 (default 3), each consuming
#                 GAMEDAY_STACK_WORKER_RATE messages/s (default 100)
#   --purge       down: also delete RUNDIR once nothing runs
#   --time T      restore: the target, any PostgreSQL timestamptz (RFC 3339)
#   --time-ms MS  restore: the target in Unix epoch ms (default: GAMEDAY_T0,
#                 which gameday sets for exec actions once its t0 happened)
#   --offset-ms N restore: added to the target (may be negative)
#   --tables LIST restore: the tables of database gameday to restore
#                 (default items); --keep: leave the restored instance running
#
# The parts: three (N) faultserver web instances kept alive by supervisord,
# which replaces a killed one after GAMEDAY_STACK_RESPAWN_DELAY seconds
# (default 2); etcd; two PostgreSQL 15 nodes (pg1, pg2) managed by Patroni,
# streaming replication; HAProxy in front of both tiers: the web load
# balancer with active health checks, its stats page, and the writer and
# reader endpoints that follow Patroni's /primary and /replica checks.
# PostgreSQL and Patroni refuse root: run as root, they run as the postgres
# account; run as another user, as that user.
#
# up: starts whatever part is not running (so it is safe on a stack that is
# up, and brings back parts a scenario killed), creates the schema if missing,
# takes a first base backup into RUNDIR/backup when there is none, and waits
# until every part is healthy (GAMEDAY_STACK_TIMEOUT seconds, default 90).
# If a part does not come up it names it and its log, exits 1, and leaves
# running what runs, for inspection: run "down" to stop it.
# A stopped stack's data is reused by the next up (a restart); --purge wipes it.
# status: one line per part, exit 0 only when all are healthy; with
# --only PART[,PART...] (lb, replication, backups, worker, web, ...) only those
# lines, and the exit status is theirs.
# down: stops every process by the pid it recorded (never by name): TERM,
# wait, KILL after GAMEDAY_STACK_STOP_TIMEOUT seconds (default 20), then any
# process left in the sessions of those processes; exit 0 when none is left.
# Exit codes: 0 ok, 1 not healthy / could not stop / missing packages,
# 2 usage.
set -uo pipefail
shopt -s nullglob
shopt -u patsub_replacement 2>/dev/null || true

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
PG_BIN=${GAMEDAY_PG_BIN:-/usr/lib/postgresql/15/bin}
RESPAWN_DELAY=${GAMEDAY_STACK_RESPAWN_DELAY:-2}
UP_TIMEOUT=${GAMEDAY_STACK_TIMEOUT:-90}
STOP_TIMEOUT=${GAMEDAY_STACK_STOP_TIMEOUT:-20}
# Loopback-only staging credentials, documented in README.md.
SUPER_PASSWORD=postgres
REPL_PASSWORD=replicator
DB_NAME=gameday DB_USER=gameday DB_PASSWORD=gameday
# The node names double as directory names and Patroni member names.
NODES=(pg1 pg2)

say() { printf 'stack: %s\n' "$*"; }
err() { printf 'stack: %s\n' "$*" >&2; }
usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
now_ms() { date +%s%3N; }

# ---- arguments ----

cmd=${1:-}
[ $# -gt 0 ] && shift
WORKERS_CMD='' WORKERS_N=3 workers_given=0
if [ "$cmd" = workers ] && [ $# -gt 0 ] && [[ $1 != -* ]]; then WORKERS_CMD=$1; shift; fi
DIR=${GAMEDAY_STACK_DIR:-/tmp/gameday-stack}
BASE=${GAMEDAY_STACK_BASE:-18000}
BIN=${GAMEDAY_BIN_DIR:-$REPO/build}
WEB_N=3
PURGE=0
base_given=0 web_given=0
R_TIME='' R_TIME_MS='' R_OFFSET_MS=0 R_TABLES=items R_KEEP=0 r_given=0
ONLY=''
while [ $# -gt 0 ]; do
  opt=$1 val=
  case $opt in
    --*=*) val=${opt#*=} opt=${opt%%=*} ;;
    --dir | --base | --bin | --web | --workers | --time | --time-ms | --offset-ms | --tables | --only)
      [ $# -ge 2 ] || { err "$opt: missing value"; exit 2; }
      val=$2; shift ;;
  esac
  case $opt in
    --dir) DIR=$val ;;
    --base) BASE=$val base_given=1 ;;
    --bin) BIN=$val ;;
    --web) WEB_N=$val web_given=1 ;;
    --workers) WORKERS_N=$val workers_given=1 ;;
    --purge) PURGE=1 ;;
    --time) R_TIME=$val r_given=1 ;;
    --time-ms) R_TIME_MS=$val r_given=1 ;;
    --offset-ms) R_OFFSET_MS=$val r_given=1 ;;
    --tables) R_TABLES=$val r_given=1 ;;
    --keep) R_KEEP=1 r_given=1 ;;
    --only) ONLY=$val ;;
    -h | --help) usage; exit 0 ;;
    *) err "unknown option '$opt' (see stack.sh --help)"; exit 2 ;;
  esac
  shift
done
case $cmd in
  up | status | down | leader | backup | restore | workers) ;;
  -h | --help | help) usage; exit 0 ;;
  '') usage >&2; exit 2 ;;
  *) err "unknown command '$cmd' (up, status, down, leader, backup, restore, workers)"; exit 2 ;;
esac
[ "$PURGE" = 0 ] || [ "$cmd" = down ] || { err "--purge: only for down"; exit 2; }
[ -z "$ONLY" ] || [ "$cmd" = status ] || { err "--only: only for status"; exit 2; }
[ "$r_given" = 0 ] || [ "$cmd" = restore ] ||
  { err "--time, --time-ms, --offset-ms, --tables, --keep: only for restore"; exit 2; }

case $DIR in /*) ;; *) DIR=$PWD/$DIR ;; esac
while [ "${DIR%/}" != "$DIR" ] && [ "$DIR" != / ]; do DIR=${DIR%/}; done
# The path lands unquoted in supervisord's, HAProxy's and Patroni's configs.
if ! [[ $DIR =~ ^/[A-Za-z0-9._/-]+$ ]] || [ "$DIR" = / ]; then
  err "--dir: unsupported path '$DIR' (letters, digits, '._/-' only)"; exit 2
fi
if ! [[ $BASE =~ ^[0-9]{4,5}$ ]] || [ "$BASE" -lt 1024 ] || [ "$BASE" -gt 65435 ]; then
  err "--base: not a port in 1024..65435 '$BASE'"; exit 2
fi
if ! [[ $WEB_N =~ ^[1-9]$ ]]; then
  err "--web: not a count in 1..9 '$WEB_N'"; exit 2
fi
[[ $UP_TIMEOUT =~ ^[1-9][0-9]{0,4}$ ]] ||
  { err "GAMEDAY_STACK_TIMEOUT: not a whole number of seconds '$UP_TIMEOUT'"; exit 2; }
[[ $STOP_TIMEOUT =~ ^[1-9][0-9]{0,4}$ ]] ||
  { err "GAMEDAY_STACK_STOP_TIMEOUT: not a whole number of seconds '$STOP_TIMEOUT'"; exit 2; }
[[ $RESPAWN_DELAY =~ ^[0-9]{1,3}(\.[0-9]+)?$ ]] ||
  { err "GAMEDAY_STACK_RESPAWN_DELAY: not a number of seconds '$RESPAWN_DELAY'"; exit 2; }
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
if ! [[ $BIN =~ ^/[A-Za-z0-9._/-]+$ ]]; then
  err "--bin: unsupported path '$BIN'"; exit 2
fi

# ---- ports ----

# A stack keeps the base and size it was created with; a different --base on
# an existing run directory is a mistake, not a request to move it.
recorded() { sed -n "s/^$1=//p" "$DIR/ports.env" 2>/dev/null | head -n 1; }
if [ -f "$DIR/ports.env" ]; then
  rb=$(recorded STACK_BASE) rw=$(recorded WEB_INSTANCES)
  if [ -n "$rb" ] && [ "$rb" != "$BASE" ]; then
    if [ "$base_given" = 1 ]; then
      err "$DIR holds a stack on base $rb, not $BASE: use that base, another --dir, or 'down --purge' first"
      exit 2
    fi
    BASE=$rb
  fi
  if [ -n "$rw" ] && [ "$rw" != "$WEB_N" ]; then
    if [ "$web_given" = 1 ]; then
      err "$DIR holds a stack with $rw web instances, not $WEB_N: 'down --purge' it first"
      exit 2
    fi
    WEB_N=$rw
  fi
fi

WEB_PORT=$((BASE + 80)) STATS_PORT=$((BASE + 81))
WRITER_PORT=$((BASE + 82)) READER_PORT=$((BASE + 83))
ETCD_PORT=$((BASE + 10)) ETCD_PEER_PORT=$((BASE + 11))
PG1_PORT=$((BASE + 20)) PG2_PORT=$((BASE + 21))
PATRONI1_API=$((BASE + 30)) PATRONI2_API=$((BASE + 31))
web_port() { echo $((BASE + 40 + $1)); }
web_ctl() { echo $((BASE + 60 + $1)); }
pg_port() { local v=PG${1#pg}_PORT; echo "${!v}"; }
api_port() { local v=PATRONI${1#pg}_API; echo "${!v}"; }
all_ports() {
  local k
  echo "$WEB_PORT $STATS_PORT $WRITER_PORT $READER_PORT $ETCD_PORT $ETCD_PEER_PORT"
  echo "$PG1_PORT $PG2_PORT $PATRONI1_API $PATRONI2_API"
  for ((k = 1; k <= WEB_N; k++)); do echo "$(web_port $k) $(web_ctl $k)"; done
}

write_ports_env() {
  local k f=$DIR/ports.env
  {
    echo "# The local staging stack in $DIR, written by stack.sh up."
    echo "# Shell-sourceable; feed it to gameday run as --var NAME=VALUE."
    echo "STACK_DIR=$DIR"
    echo "STACK_BASE=$BASE"
    echo "WEB_INSTANCES=$WEB_N"
    echo "WEB_PORT=$WEB_PORT"
    echo "STATS_PORT=$STATS_PORT"
    echo "WRITER_PORT=$WRITER_PORT"
    echo "READER_PORT=$READER_PORT"
    echo "ETCD_PORT=$ETCD_PORT"
    echo "ETCD_PEER_PORT=$ETCD_PEER_PORT"
    echo "PG1_PORT=$PG1_PORT"
    echo "PG2_PORT=$PG2_PORT"
    echo "PATRONI1_API=$PATRONI1_API"
    echo "PATRONI2_API=$PATRONI2_API"
    for ((k = 1; k <= WEB_N; k++)); do
      echo "WEB_${k}_PORT=$(web_port $k)"
      echo "WEB_${k}_CTL=$(web_ctl $k)"
    done
    echo "LB_URL=http://127.0.0.1:$WEB_PORT"
    echo "STATS_URL=http://127.0.0.1:$STATS_PORT/stats"
    echo "STATS_CSV_URL='http://127.0.0.1:$STATS_PORT/stats;csv'"
    echo "CAPACITY_URL=http://127.0.0.1:$STATS_PORT/capacity"
    echo "DB_NAME=$DB_NAME"
    echo "DB_USER=$DB_USER"
    echo "DB_PASSWORD=$DB_PASSWORD"
    echo "WRITER_DSN=postgresql://$DB_USER:$DB_PASSWORD@127.0.0.1:$WRITER_PORT/$DB_NAME"
    echo "READER_DSN=postgresql://$DB_USER:$DB_PASSWORD@127.0.0.1:$READER_PORT/$DB_NAME"
    echo "WEB_PIDFILES='$DIR/web-*.pid'"
    echo "PATRONI1_PIDFILE=$DIR/patroni1.pid"
    echo "PATRONI2_PIDFILE=$DIR/patroni2.pid"
    echo "PG1_PIDFILE=$DIR/pg1/postgres.pid"
    echo "PG2_PIDFILE=$DIR/pg2/postgres.pid"
    queue_ports_env
  } >"$f.tmp" && mv -f "$f.tmp" "$f"
}

# ---- processes ----

# The first line of a pidfile, when it is a pid.
pid_of() {
  local p
  p=$(head -n 1 "$1" 2>/dev/null) || return 1
  [[ $p =~ ^[1-9][0-9]*$ ]] || return 1
  echo "$p"
}

# Field N (3 = state, 4 = ppid, 6 = session) of /proc/PID/stat; the command
# name in field 2 may hold spaces and parentheses, so split after the last ')'.
stat_field() {
  local s f
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -r -a f <<<"${s##*) }"
  echo "${f[$(($2 - 3))]}"
}

# Alive: exists and is not a zombie (a zombie cannot be stopped any more,
# only reaped by its parent).
alive() {
  local st
  st=$(stat_field "$1" 3) || return 1
  [ "$st" != Z ]
}

# Ours: alive and started for this run directory (every daemon's command line
# names a file in it), so a recycled pid is never signalled.
is_ours() {
  local c
  alive "$1" || return 1
  c=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $c == *"$DIR/"* ]]
}

# The pid in pidfile when it is one of ours, else fails.
live_pid() {
  local p
  p=$(pid_of "$1") || return 1
  is_ours "$p" || return 1
  echo "$p"
}

wait_gone() { # pid timeout_s
  local deadline=$(($(now_ms) + $2 * 1000))
  while alive "$1"; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# Starts a daemon in its own session with its output appended to its log and
# records its pid (setsid does not fork here: a background job of a script is
# not a process group leader, so the pid is the daemon's).
spawn() { # name pidfile log cmd...
  local name=$1 pidfile=$2 log=$3 pid
  shift 3
  setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$pidfile"
  printf '%s\n' "$pid" >>"$DIR/run/sessions"
  say "started $name (pid $pid, log ${log#"$DIR"/})"
}

# ---- the database account ----

# AS_DB: the command prefix that runs a program as that account, with a clean
# environment (root's PATH may name directories it cannot read).
if [ "$(id -u)" -eq 0 ]; then
  DB_OS_USER=postgres
  DB_HOME=$(getent passwd postgres | cut -d: -f6)
  AS_DB=(setpriv --reuid=postgres --regid=postgres --init-groups
    env -i PATH=/usr/bin:/bin HOME="${DB_HOME:-/}" USER=postgres LOGNAME=postgres
    LANG=C.UTF-8)
else
  DB_OS_USER=$(id -un)
  AS_DB=(env -i PATH=/usr/bin:/bin HOME="$HOME" USER="$DB_OS_USER" LANG=C.UTF-8)
fi

# ---- HTTP and SQL ----

http_body() { curl -s -m "${2:-2}" "$1" 2>/dev/null; }
http_code() { curl -s -o /dev/null -m "${2:-2}" -w '%{http_code}' "$1" 2>/dev/null; }

sql() { # port user db sql...
  local port=$1 user=$2 db=$3
  shift 3
  PGPASSFILE=$DIR/pgpass PGCONNECT_TIMEOUT=2 PGAPPNAME=gameday-stack \
    psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$user" \
    -d "$db" "$@" 2>&1
}

first_line() { local l=${1%%$'\n'*}; echo "${l:-no answer}"; }

# "STATE ROLE" from a Patroni /patroni answer (python3 comes with Patroni).
patroni_state() {
  /usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
print(d.get("state", "") or "-", d.get("role", "") or "-")' <<<"$1" 2>/dev/null
}

# ---- health: one line per part ----

STATUS_LINES=()
LEADER=
STATS_CSV=

line() { # part ok|FAIL detail
  STATUS_LINES+=("$(printf '%-12s %-4s %s' "$1" "$2" "$3")")
  [ "$2" = ok ]
}

check_etcd() {
  local pid
  pid=$(live_pid "$DIR/etcd.pid") ||
    { line etcd FAIL "not running (log: $DIR/log/etcd.log)"; return 1; }
  if [[ $(http_body "http://127.0.0.1:$ETCD_PORT/health") != *'"health":"true"'* ]]; then
    line etcd FAIL "pid $pid, /health not true on 127.0.0.1:$ETCD_PORT (log: $DIR/log/etcd.log)"
    return 1
  fi
  line etcd ok "pid $pid, 127.0.0.1:$ETCD_PORT"
}

check_node() { # pg1|pg2
  local n=$1 i=${1#pg} pid body state role pgpid logs
  logs="logs: $DIR/log/patroni$i.log, $DIR/$n/log/postgresql.log"
  pid=$(live_pid "$DIR/patroni$i.pid") ||
    { line "$n" FAIL "patroni not running ($logs)"; return 1; }
  body=$(http_body "http://127.0.0.1:$(api_port "$n")/patroni")
  read -r state role <<<"$(patroni_state "$body")"
  [ "$state" != - ] || state=''
  if [ "$state" != running ]; then
    line "$n" FAIL "patroni pid $pid, postgres state '${state:-no answer}' ($logs)"
    return 1
  fi
  pgpid=$(pid_of "$DIR/$n/data/postmaster.pid") || pgpid='?'
  case $role in
    master | primary) LEADER=$n role=leader ;;
  esac
  line "$n" ok "$role, patroni pid $pid, postgres pid $pgpid, 127.0.0.1:$(pg_port "$n")"
}

check_replication() {
  local n out want=() missing=()
  if [ -z "$LEADER" ]; then
    line replication FAIL "no leader (logs: $DIR/log/patroni1.log, $DIR/log/patroni2.log)"
    return 1
  fi
  for n in "${NODES[@]}"; do [ "$n" = "$LEADER" ] || want+=("$n"); done
  out=$(sql "$(pg_port "$LEADER")" postgres postgres -F ' ' -c \
    "SELECT application_name, state, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), -1)
       FROM pg_stat_replication")
  local detail=
  for n in "${want[@]}"; do
    local row
    row=$(awk -v n="$n" '$1 == n && $2 == "streaming" {print $3}' <<<"$out")
    if [ -z "$row" ]; then missing+=("$n"); else detail+="$n streaming from $LEADER (replay lag $row bytes) "; fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    line replication FAIL "${missing[*]} not streaming from $LEADER (logs: $DIR/log/patroni*.log, $DIR/pg*/log/postgresql.log)"
    return 1
  fi
  line replication ok "${detail% }"
}

check_supervisord() {
  local pid
  pid=$(live_pid "$DIR/supervisord.pid") ||
    { line supervisord FAIL "not running (log: $DIR/log/supervisord.log)"; return 1; }
  line supervisord ok "pid $pid"
}

check_web() { # k
  local k=$1 pid port code
  port=$(web_port "$k")
  pid=$(live_pid "$DIR/web-$k.pid") ||
    { line "web-$k" FAIL "no instance (being replaced? log: $DIR/log/web-$k.log)"; return 1; }
  code=$(http_code "http://127.0.0.1:$port/health")
  if [ "$code" != 200 ]; then
    line "web-$k" FAIL "pid $pid, /health answered '${code:-nothing}' on 127.0.0.1:$port (log: $DIR/log/web-$k.log)"
    return 1
  fi
  line "web-$k" ok "pid $pid, 127.0.0.1:$port, control 127.0.0.1:$(web_ctl "$k")"
}

# Server rows of the stats CSV: "proxy server status" (field 18 is status).
stats_rows() { awk -F, -v p="$1" '$1 == p && $2 != "FRONTEND" && $2 != "BACKEND" {print $2, $18}' <<<"$STATS_CSV"; }

check_haproxy() {
  local pid
  pid=$(live_pid "$DIR/haproxy.pid") ||
    { line haproxy FAIL "not running (log: $DIR/log/haproxy.log)"; return 1; }
  STATS_CSV=$(http_body "http://127.0.0.1:$STATS_PORT/stats;csv")
  if [[ $STATS_CSV != "# pxname"* ]]; then
    line haproxy FAIL "pid $pid, no stats on 127.0.0.1:$STATS_PORT (log: $DIR/log/haproxy.log)"
    return 1
  fi
  line haproxy ok "pid $pid, web 127.0.0.1:$WEB_PORT, stats http://127.0.0.1:$STATS_PORT/stats"
}

check_lb() {
  local rows up down
  rows=$(stats_rows web)
  up=$(awk '$2 == "UP"' <<<"$rows" | wc -l)
  down=$(awk '$2 != "UP" {printf "%s %s, ", $1, $2}' <<<"$rows")
  if [ -z "$STATS_CSV" ] || [ "$up" -ne "$WEB_N" ]; then
    line lb FAIL "$up/$WEB_N web servers UP in HAProxy${down:+ (${down%, })}"
    return 1
  fi
  line lb ok "$up/$WEB_N web servers UP"
}

# Which nodes an endpoint routes to, from the stats CSV.
routed() { stats_rows "$1" | awk '$2 == "UP" {printf "%s%s", s, $1; s = ","}'; }

check_writer() {
  local out to
  to=$(routed writer)
  out=$(sql "$WRITER_PORT" "$DB_USER" "$DB_NAME" -c \
    "SELECT pg_is_in_recovery(), to_regclass('public.ledger') IS NOT NULL AND to_regclass('public.items') IS NOT NULL")
  if [ "$out" != "f|t" ]; then
    line writer FAIL "127.0.0.1:$WRITER_PORT -> ${to:-no node UP}: $(first_line "$out")"
    return 1
  fi
  line writer ok "127.0.0.1:$WRITER_PORT -> $to, schema present"
}

check_reader() {
  local out to
  to=$(routed reader)
  out=$(sql "$READER_PORT" "$DB_USER" "$DB_NAME" -c "SELECT pg_is_in_recovery()")
  if [ "$out" != t ]; then
    line reader FAIL "127.0.0.1:$READER_PORT -> ${to:-no node UP}: $(first_line "$out")"
    return 1
  fi
  line reader ok "127.0.0.1:$READER_PORT -> $to"
}

# Every check, in dependency order; 0 when all pass.
check_all() {
  local rc=0 k n
  STATUS_LINES=() LEADER='' STATS_CSV=''
  check_etcd || rc=1
  for n in "${NODES[@]}"; do check_node "$n" || rc=1; done
  check_replication || rc=1
  check_supervisord || rc=1
  for ((k = 1; k <= WEB_N; k++)); do check_web "$k" || rc=1; done
  check_haproxy || rc=1
  check_lb || rc=1
  check_writer || rc=1
  check_reader || rc=1
  check_queue || rc=1
  check_workers || rc=1
  check_backups || rc=1
  return $rc
}

print_status() { printf '%s\n' "${STATUS_LINES[@]}"; }

# ---- the queue tier ----

# The SQS analogue: fauxqs (an SQS implementation on Node, pinned to
# 127.0.0.1 by queue/loopback.mjs) holding the queue `work`, whose messages
# go to the dead-letter queue `work-dlq` after QUEUE_MAX_RECEIVE receives
# without a delete, and a pool of workers (queue/worker.mjs, the group
# `workers` of the stack's supervisord) that consume it at WORKER_RATE
# messages a second each and log what they processed in
# queue/processed/worker-K.log. fauxqs keeps its queues in memory: up
# creates them every time (the same attributes again is no error).
QUEUE_HOME=$HERE/queue
SQS_PORT=$((BASE + 90))
SQS_ENDPOINT=http://127.0.0.1:$SQS_PORT
# The URL fauxqs hands out for a queue (loopback.mjs: host 127.0.0.1); up
# checks that it did.
QUEUE_URL=http://sqs.us-east-1.127.0.0.1:$SQS_PORT/000000000000/work
DLQ_URL=$QUEUE_URL-dlq
QUEUE_VISIBILITY_S=5 QUEUE_MAX_RECEIVE=5
WORKER_RATE=${GAMEDAY_STACK_WORKER_RATE:-100}
[[ $WORKER_RATE =~ ^[1-9][0-9]{0,4}$ ]] ||
  { err "GAMEDAY_STACK_WORKER_RATE: not a whole number of messages a second '$WORKER_RATE'"; exit 2; }
if [[ ! $WORKERS_N =~ ^[1-9]$ ]]; then
  err "--workers: not a count in 1..9 '$WORKERS_N'"; exit 2
fi
if [ -f "$DIR/ports.env" ]; then
  rq=$(recorded QUEUE_WORKERS)
  if [ -n "$rq" ] && [ "$rq" != "$WORKERS_N" ]; then
    if [ "$workers_given" = 1 ]; then
      err "$DIR holds a stack with $rq queue workers, not $WORKERS_N: 'down --purge' it first"
      exit 2
    fi
    WORKERS_N=$rq
  fi
fi
# The SDK warns on every start that its 2027 releases want Node 22.
NODE=(env NODE_NO_WARNINGS=1 node)

queue_ports_env() {
  echo "SQS_PORT=$SQS_PORT"
  echo "SQS_ENDPOINT=$SQS_ENDPOINT"
  echo "QUEUE_URL=$QUEUE_URL"
  echo "DLQ_URL=$DLQ_URL"
  echo "QUEUE_WORKERS=$WORKERS_N"
  echo "WORKER_RATE=$WORKER_RATE"
  echo "QUEUE_DIR=$DIR/queue"
  echo "QUEUE_PROCESSED='$DIR/queue/processed/*.log'"
  echo "FAUXQS_PIDFILE=$DIR/fauxqs.pid"
}

# supervisord programs: one per worker, and the group that stack.sh workers
# stop|start acts on.
queue_programs() {
  local k names=''
  for ((k = 1; k <= WORKERS_N; k++)); do
    names+=${names:+,}worker-$k
    printf '%s\n' "[program:worker-$k]
command=/usr/bin/env NODE_NO_WARNINGS=1 node $QUEUE_HOME/worker.mjs --dir $DIR/queue --name worker-$k --queue-url $QUEUE_URL --endpoint $SQS_ENDPOINT --rate $WORKER_RATE
autostart=true
autorestart=true
startsecs=1
startretries=5
stopasgroup=true
killasgroup=true
stopsignal=TERM
stopwaitsecs=5
redirect_stderr=true
stdout_logfile=$DIR/log/worker-$k.log
stdout_logfile_maxbytes=10MB
stdout_logfile_backups=1
"
  done
  printf '%s\n' "[group:workers]
programs=$names
"
}

queue_preflight() {
  command -v node >/dev/null 2>&1 ||
    { err "queue tier: node is missing (apt-get install nodejs, or scripts/deps.sh)"; exit 1; }
  if [ ! -d "$QUEUE_HOME/node_modules/fauxqs" ] || [ ! -d "$QUEUE_HOME/node_modules/@aws-sdk/client-sqs" ]; then
    err "queue tier: no $QUEUE_HOME/node_modules (npm ci --prefix $QUEUE_HOME)"
    exit 1
  fi
}

# up, before anything starts: fauxqs's port when it is to start, and
# workers orphaned by a supervisord that was killed (they would consume
# next to their replacements).
queue_plan() {
  local pid f n
  if pid=$(live_pid "$DIR/fauxqs.pid"); then
    say "fauxqs already running (pid $pid)"
  else
    ports+=("$SQS_PORT")
  fi
  if ! live_pid "$DIR/supervisord.pid" >/dev/null; then
    for f in "$DIR"/queue/worker-*.pid; do
      n=${f##*/}
      stop_file "orphaned ${n%.pid}" "$f" TERM 5
    done
  fi
  mkdir -p "$DIR/queue/processed"
}

fauxqs_ready() { [ -s "$DIR/run/fauxqs.ready" ]; }

# up: fauxqs if it is not running, then the queues.
queue_start() {
  local out k
  if ! live_pid "$DIR/fauxqs.pid" >/dev/null; then
    rm -f "$DIR/run/fauxqs.ready"
    spawn fauxqs "$DIR/fauxqs.pid" "$DIR/log/fauxqs.log" \
      env FAUXQS_PORT="$SQS_PORT" NODE_NO_WARNINGS=1 node "$QUEUE_HOME/loopback.mjs" \
      "$DIR/run/fauxqs.ready"
    started=1
    # Until the background child has exec'd, its command line is this
    # script's, which is not "ours": give it that moment before wait_for
    # takes it for dead.
    for ((k = 0; k < 40; k++)); do
      live_pid "$DIR/fauxqs.pid" >/dev/null && break
      sleep 0.05
    done
  fi
  DAEMONS+=(fauxqs)
  wait_for fauxqs_ready || give_up $? "fauxqs did not come up within ${UP_TIMEOUT}s (log: $DIR/log/fauxqs.log)"
  if ! out=$("${NODE[@]}" "$QUEUE_HOME/admin.mjs" create "$SQS_ENDPOINT" work \
    "$QUEUE_VISIBILITY_S" "$QUEUE_MAX_RECEIVE" 2>&1); then
    check_all
    fail_up "queue tier: could not create the queues: $out"
  fi
  if [ "$out" != "$QUEUE_URL"$'\n'"$DLQ_URL" ]; then
    check_all
    fail_up "queue tier: fauxqs named the queues '${out//$'\n'/, }', not $QUEUE_URL"
  fi
}

check_queue() {
  local pid out v f d dv
  pid=$(live_pid "$DIR/fauxqs.pid") ||
    { line queue FAIL "fauxqs not running (log: $DIR/log/fauxqs.log)"; return 1; }
  if ! out=$("${NODE[@]}" "$QUEUE_HOME/admin.mjs" depth "$SQS_ENDPOINT" "$QUEUE_URL" "$DLQ_URL" 2>&1); then
    line queue FAIL "fauxqs pid $pid, $SQS_ENDPOINT: $(first_line "$out") (log: $DIR/log/fauxqs.log)"
    return 1
  fi
  { read -r v f; read -r d dv; } <<<"$out"
  line queue ok "fauxqs pid $pid, $SQS_ENDPOINT, work: $v visible, $f in flight; work-dlq: $d"
}

check_workers() {
  local k pid n rc=0 log
  for ((k = 1; k <= WORKERS_N; k++)); do
    log=$DIR/queue/processed/worker-$k.log
    n=0
    [ ! -f "$log" ] || n=$(wc -l <"$log")
    if pid=$(live_pid "$DIR/queue/worker-$k.pid"); then
      line "worker-$k" ok "pid $pid, $WORKER_RATE messages/s, $n processed so far"
    else
      line "worker-$k" FAIL "not running (stopped? log: $DIR/log/worker-$k.log)"
      rc=1
    fi
  done
  return $rc
}

# down: after supervisord (which stops the workers), any worker it left,
# then fauxqs.
queue_stop() {
  local f n
  for f in "$DIR"/queue/worker-*.pid; do
    n=${f##*/}
    stop_file "${n%.pid}" "$f" TERM 5
  done
  stop_file fauxqs "$DIR/fauxqs.pid" TERM "$STOP_TIMEOUT"
  [ "$STOP_FAILED" != 0 ] || rm -f "$DIR"/queue/worker-*.pid "$DIR/fauxqs.pid" "$DIR/run/fauxqs.ready"
}

workers_running() {
  local k
  for ((k = 1; k <= WORKERS_N; k++)); do live_pid "$DIR/queue/worker-$k.pid" >/dev/null || return 1; done
}
workers_stopped() {
  local k
  for ((k = 1; k <= WORKERS_N; k++)); do ! live_pid "$DIR/queue/worker-$k.pid" >/dev/null || return 1; done
}

# stack.sh workers stop|start|status: the consumer pool through the stack's
# own supervisord (the queue-consumers-stopped fault and its recovery).
cmd_workers() {
  local out
  [ -f "$DIR/ports.env" ] || { err "no stack in $DIR (no ports.env)"; exit 1; }
  live_pid "$DIR/supervisord.pid" >/dev/null ||
    { err "supervisord is not running in $DIR: run stack.sh up"; exit 1; }
  case $WORKERS_CMD in
    stop | start)
      out=$(supervisorctl -c "$DIR/supervisord.conf" "$WORKERS_CMD" 'workers:*' 2>&1)
      printf '%s\n' "$out" | sed 's/^/stack: /'
      DEADLINE=$(($(now_ms) + UP_TIMEOUT * 1000))
      if [ "$WORKERS_CMD" = stop ]; then
        wait_for workers_stopped || { err "workers still running after ${UP_TIMEOUT}s"; exit 1; }
        say "$WORKERS_N workers stopped"
      else
        wait_for workers_running || { err "workers not all running after ${UP_TIMEOUT}s (logs: $DIR/log/worker-*.log)"; exit 1; }
        say "$WORKERS_N workers running"
      fi
      ;;
    status)
      STATUS_LINES=()
      check_workers; local rc=$?
      print_status
      exit $rc
      ;;
    *) err "workers: expected stop, start or status, got '${WORKERS_CMD}'"; exit 2 ;;
  esac
}

# ---- up ----

lock_dir() {
  exec 9>"$DIR/.lock"
  flock -n 9 || { err "another stack.sh is working on $DIR"; exit 1; }
}

preflight() {
  local missing=() c
  for c in etcd haproxy supervisord patroni curl psql setsid flock; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  [ -x "$PG_BIN/postgres" ] || missing+=("$PG_BIN/postgres")
  if [ ${#missing[@]} -gt 0 ]; then
    err "missing: ${missing[*]}"
    err "install: apt-get install haproxy supervisor etcd-server patroni python3-etcd postgresql-15 postgresql-client-15 curl (or scripts/deps.sh)"
    exit 1
  fi
  if [ ! -x "$BIN/faultserver" ]; then
    err "web tier: no faultserver in $BIN (build the project, or pass --bin DIR)"
    exit 1
  fi
  if [ "$DB_OS_USER" = postgres ] && ! id -u postgres >/dev/null 2>&1; then
    err "database tier: no postgres account (it comes with the postgresql-common package)"
    exit 1
  fi
}

render() { # template out VAR...
  local tpl=$1 out=$2 v text left
  shift 2
  text=$(<"$tpl")
  for v in "$@"; do text=${text//"@$v@"/"${!v}"}; done
  left=$(grep -o '@[A-Z0-9_]*@' <<<"$text" | head -n 1)
  [ -z "$left" ] || { err "render $tpl: no value for $left"; exit 1; }
  printf '%s\n' "$text" >"$out.tmp" && mv -f "$out.tmp" "$out"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ports of the parts about to start must be free: a clear error now beats a
# part that never comes up.
check_ports() { # port...
  local p busy=()
  for p in "$@"; do port_busy "$p" && busy+=("$p"); done
  if [ ${#busy[@]} -gt 0 ]; then
    err "ports in use on 127.0.0.1: ${busy[*]} (another stack on base $BASE? pick another --base)"
    exit 1
  fi
}

render_all() {
  local k servers='' programs=''
  for ((k = 1; k <= WEB_N; k++)); do
    servers+="    server web-$k 127.0.0.1:$(web_port $k) check"$'\n'
    programs+="[program:web-$k]
command=$DIR/bin/web-instance.sh $DIR $k $(web_port $k) $(web_ctl $k) $BIN/faultserver $RESPAWN_DELAY
autostart=true
autorestart=true
startsecs=1
startretries=5
stopasgroup=true
killasgroup=true
stopsignal=TERM
stopwaitsecs=5
redirect_stderr=true
stdout_logfile=$DIR/log/web-$k.log
stdout_logfile_maxbytes=10MB
stdout_logfile_backups=1
"$'\n'
  done
  programs+=$(queue_programs)
  WEB_SERVERS=${servers%$'\n'} WEB_PROGRAMS=${programs%$'\n'} WEB_INSTANCES=$WEB_N
  render "$HERE/haproxy.cfg.in" "$DIR/haproxy.cfg" DIR WEB_PORT STATS_PORT WRITER_PORT \
    READER_PORT PG1_PORT PG2_PORT PATRONI1_API PATRONI2_API WEB_SERVERS WEB_INSTANCES
  render "$HERE/supervisord.conf.in" "$DIR/supervisord.conf" DIR RESPAWN_DELAY WEB_PROGRAMS
  install -m 0755 "$HERE/web-instance.sh" "$DIR/bin/web-instance.sh"
  install -m 0755 "$HERE/pg-callback.sh" "$DIR/bin/pg-callback.sh"
  umask 077
  printf '127.0.0.1:*:*:postgres:%s\n127.0.0.1:*:*:%s:%s\n' \
    "$SUPER_PASSWORD" "$DB_USER" "$DB_PASSWORD" >"$DIR/pgpass"
  umask 022
}

render_node() { # pg1|pg2
  local NODE=$1 nd=$DIR/$1 PG_PORT API_PORT
  PG_PORT=$(pg_port "$NODE") API_PORT=$(api_port "$NODE")
  install -d -o "$DB_OS_USER" -m 0700 "$nd" "$nd/log"
  render "$HERE/patroni.yml.in" "$nd/patroni.yml" NODE DIR API_PORT ETCD_PORT PG_PORT \
    PG_BIN SUPER_PASSWORD REPL_PASSWORD
  chown "$DB_OS_USER" "$nd/patroni.yml"
  chmod 0600 "$nd/patroni.yml"
  if ! "${AS_DB[@]}" test -w "$nd" -a -r "$nd/patroni.yml"; then
    check_all
    fail_up "$NODE: the $DB_OS_USER account cannot reach $nd (is a parent of $DIR not searchable by it? use a --dir under /tmp)"
  fi
}

# The first daemon that up started or found and that has since exited: it
# will not come back by waiting (web instances do: supervisord restarts them).
DAEMONS=()
dead_daemon() {
  local d
  for d in "${DAEMONS[@]}"; do
    live_pid "$DIR/$d.pid" >/dev/null || { echo "$d"; return 0; }
  done
  return 1
}
daemon_log() {
  case $1 in
    supervisord) echo "$DIR/log/supervisord.log" ;;
    *) echo "$DIR/log/$1.log" ;;
  esac
}

# Waits until fn succeeds (0), the up deadline passes (1) or a daemon exits
# (2, its name in DEAD).
DEAD=''
wait_for() { # fn...
  until "$@"; do
    DEAD=$(dead_daemon) && return 2
    if [ "$(now_ms)" -ge "$DEADLINE" ]; then return 1; fi
    sleep 0.3
  done
}

# Ends a failed up: names what did not come up and where to look.
give_up() { # rc-of-wait_for what-timed-out
  check_all
  if [ "$1" = 2 ]; then
    fail_up "$DEAD exited (log: $(daemon_log "$DEAD"))"
  fi
  fail_up "$2"
}

etcd_healthy() { [[ $(http_body "http://127.0.0.1:$ETCD_PORT/health") == *'"health":"true"'* ]]; }

# Whether the cluster's initialize key exists (a node has claimed the
# bootstrap), read through etcd's v3 JSON gateway.
cluster_initialized() {
  local key
  key=$(printf '%s' /service/gameday/initialize | base64 -w0)
  [[ $(curl -s -m 2 -X POST -d "{\"key\":\"$key\"}" \
    "http://127.0.0.1:$ETCD_PORT/v3/kv/range" 2>/dev/null) == *'"kvs"'* ]]
}

writer_ready() {
  [ "$(sql "$WRITER_PORT" postgres postgres -c 'SELECT pg_is_in_recovery()')" = f ]
}

create_schema() {
  local out
  out=$(sql "$WRITER_PORT" postgres postgres -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
        CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD';
      END IF; END \$\$;") || { err "schema: $out"; return 1; }
  out=$(sql "$WRITER_PORT" postgres postgres -c \
    "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") || { err "schema: $out"; return 1; }
  if [ -z "$out" ]; then
    out=$(sql "$WRITER_PORT" postgres postgres -c "CREATE DATABASE $DB_NAME OWNER $DB_USER") ||
      { err "schema: $out"; return 1; }
  fi
  out=$(sql "$WRITER_PORT" postgres "$DB_NAME" -c "SET ROLE $DB_USER" -f "$HERE/schema.sql") ||
    { err "schema: $out"; return 1; }
}

fail_up() { # what
  err "$1"
  print_status >&2
  err "what runs was left running for inspection; stop it with: $0 down --dir $DIR"
  exit 1
}

cmd_up() {
  local t0 k n i f pid started=0 ports=() start_etcd=0 start_sup=0 start_hap=0
  local -A start_node=()
  t0=$(now_ms)
  DEADLINE=$((t0 + UP_TIMEOUT * 1000))
  preflight
  queue_preflight
  mkdir -p "$DIR" || exit 1
  lock_dir
  mkdir -p "$DIR/log" "$DIR/run" "$DIR/bin" "$DIR/etcd"
  chmod 0700 "$DIR/etcd"
  [ -f "$DIR/.gameday-stack" ] || echo "gameday local staging stack" >"$DIR/.gameday-stack"
  # The database account must reach its directories inside RUNDIR.
  chmod a+x "$DIR"
  if ! "${AS_DB[@]}" test -x "$DIR"; then
    err "the $DB_OS_USER account cannot reach $DIR: a parent directory is not searchable by it; use a --dir under /tmp"
    exit 1
  fi

  # What runs already, and the ports of what is to start, all checked before
  # anything starts: a busy port must not leave a half-started stack.
  if pid=$(live_pid "$DIR/etcd.pid"); then
    say "etcd already running (pid $pid)"
  else
    start_etcd=1 ports+=("$ETCD_PORT" "$ETCD_PEER_PORT")
  fi
  if pid=$(live_pid "$DIR/supervisord.pid"); then
    say "supervisord already running (pid $pid)"
  else
    start_sup=1
    # Instances orphaned by a supervisord that was killed would hold the
    # ports of their replacements.
    for f in "$DIR"/web-*.pid; do
      n=${f##*/}
      stop_file "orphaned ${n%.pid}" "$f" TERM 5
    done
    for ((k = 1; k <= WEB_N; k++)); do ports+=("$(web_port $k)" "$(web_ctl $k)"); done
  fi
  if pid=$(live_pid "$DIR/haproxy.pid"); then
    say "haproxy already running (pid $pid)"
  else
    start_hap=1 ports+=("$WEB_PORT" "$STATS_PORT" "$WRITER_PORT" "$READER_PORT")
  fi
  for n in "${NODES[@]}"; do
    i=${n#pg} start_node[$n]=0
    if pid=$(live_pid "$DIR/patroni$i.pid"); then
      say "$n: patroni already running (pid $pid)"
      DAEMONS+=("patroni$i")
      continue
    fi
    start_node[$n]=1 ports+=("$(api_port "$n")")
    # A PostgreSQL that outlived its Patroni is adopted by the new one.
    if pid=$(live_pid "$DIR/$n/data/postmaster.pid"); then
      say "$n: postgres still running (pid $pid): patroni will adopt it"
    else
      ports+=("$(pg_port "$n")")
    fi
  done
  queue_plan
  check_ports "${ports[@]}"
  write_ports_env
  render_all
  backup_prepare || fail_up "backups: cannot prepare $DIR/backup"

  # The web tier and the load balancer do not depend on the database.
  if [ "$start_etcd" = 1 ]; then
    spawn etcd "$DIR/etcd.pid" "$DIR/log/etcd.log" etcd --name gameday \
      --data-dir "$DIR/etcd/data" \
      --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-cluster "gameday=http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-cluster-token "gameday-$BASE" --initial-cluster-state new \
      --logger zap --log-outputs stderr
    started=1
  fi
  if [ "$start_sup" = 1 ]; then
    rm -f "$DIR"/run/web-*.started
    spawn supervisord "$DIR/supervisord.pid" "$DIR/log/supervisord.out" \
      supervisord -n -c "$DIR/supervisord.conf"
    started=1
  else
    # Brings back an instance it gave up on (FATAL) or one stopped by hand.
    supervisorctl -c "$DIR/supervisord.conf" start all 2>&1 |
      grep -v 'already started' | sed 's/^/stack: /'
  fi
  if [ "$start_hap" = 1 ]; then
    local out
    if ! out=$(haproxy -c -q -f "$DIR/haproxy.cfg" 2>&1); then
      printf '%s\n' "$out" >>"$DIR/log/haproxy.log"
      err "haproxy: invalid configuration $DIR/haproxy.cfg:"
      printf '%s\n' "$out" >&2
      check_all
      fail_up "haproxy did not start"
    fi
    spawn haproxy "$DIR/haproxy.pid" "$DIR/log/haproxy.log" haproxy -f "$DIR/haproxy.cfg"
    started=1
  fi

  queue_start
  DAEMONS+=(etcd supervisord haproxy)
  wait_for etcd_healthy || give_up $? "etcd did not come up within ${UP_TIMEOUT}s (log: $DIR/log/etcd.log)"

  # pg1 claims the bootstrap before pg2 starts, so a fresh stack always has
  # pg1 as its first writer; pg2 then clones it with pg_basebackup.
  for n in "${NODES[@]}"; do
    [ "${start_node[$n]}" = 1 ] || continue
    i=${n#pg}
    render_node "$n"
    if [ "$n" != pg1 ] && ! cluster_initialized; then
      wait_for cluster_initialized ||
        give_up $? "pg1 did not start the bootstrap (log: $DIR/log/patroni1.log)"
    fi
    spawn "$n: patroni" "$DIR/patroni$i.pid" "$DIR/log/patroni$i.log" \
      "${AS_DB[@]}" /usr/bin/patroni "$DIR/$n/patroni.yml"
    DAEMONS+=("patroni$i")
    started=1
  done
  [ "$started" = 1 ] || say "the stack in $DIR is already up; nothing started"

  wait_for writer_ready ||
    give_up $? "the writer endpoint 127.0.0.1:$WRITER_PORT did not reach a primary within ${UP_TIMEOUT}s"
  create_schema || give_up 1 "could not create the schema through the writer endpoint"
  ensure_base_backup || give_up 1 "could not take the first base backup"
  wait_for check_all ||
    give_up $? "not healthy after ${UP_TIMEOUT}s; the parts marked FAIL did not come up:"
  print_status
  say "healthy in $(awk -v ms=$(($(now_ms) - t0)) 'BEGIN {printf "%.1f", ms / 1000}') s; ports in $DIR/ports.env"
}

# ---- backups: WAL archive, base backups, point-in-time restore ----
#
# RUNDIR/backup is the stack's S3 analogue: wal/ holds every WAL segment a
# leader closed (archive_command in patroni.yml.in, wal-archive.sh), base/TS/
# the base backups (pg_basebackup from the leader, plain format, with the WAL
# that makes each consistent, and gameday-backup.info written once it is
# complete). A restore replays a base backup and the archive up to a time in
# a throwaway instance, then copies tables back through the writer endpoint
# (README.md, "Backups").

BACKUP=$DIR/backup
RESTORE_DIR=$DIR/restore
RESTORE_PIDFILE=$RESTORE_DIR/postgres.pid
RESTORE_TIMEOUT=$UP_TIMEOUT

# The archiver and pg_basebackup run as the database account: it owns the
# backup folders and gets the replication password in a file of its own
# (RUNDIR/pgpass is root's).
backup_prepare() {
  install -d -o "$DB_OS_USER" -m 0700 "$BACKUP" "$BACKUP/wal" "$BACKUP/base" || return 1
  install -m 0755 "$HERE/wal-archive.sh" "$DIR/bin/wal-archive.sh" || return 1
  (umask 077 && printf '127.0.0.1:*:*:replicator:%s\n' "$REPL_PASSWORD" >"$BACKUP/pgpass") ||
    return 1
  chown "$DB_OS_USER" "$BACKUP/pgpass"
}

# The node Patroni says is the primary (pg1 or pg2), or fails.
leader_node() {
  local n
  for n in "${NODES[@]}"; do
    [ "$(http_code "http://127.0.0.1:$(api_port "$n")/primary")" = 200 ] && { echo "$n"; return 0; }
  done
  return 1
}

fmt_age() { # seconds
  local s=$1
  if [ "$s" -lt 120 ]; then echo "${s} s"
  elif [ "$s" -lt 7200 ]; then echo "$((s / 60)) min"
  else echo "$((s / 3600)) h"; fi
}

fmt_s() { awk -v ms="$1" 'BEGIN {printf "%.1f s", ms / 1000}'; }

# RFC 3339 UTC with milliseconds, from epoch ms; and the same as
# recovery_target_time reads it (it refuses the "T" and "Z" forms).
ms_to_time() { date -u -d "@$(($1 / 1000)).$(printf %03d $(($1 % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ; }
ms_to_pgtime() { date -u -d "@$(($1 / 1000)).$(printf %03d $(($1 % 1000)))" '+%Y-%m-%d %H:%M:%S.%3N+00'; }

# "NAME END_MS" for each complete base backup, oldest first (the names sort
# by time; a backup in progress is still .partial-NAME, hidden from the glob).
base_backups() {
  local d e
  for d in "$BACKUP"/base/2*/; do
    d=${d%/}
    e=$(sed -n 's/^END_MS=//p' "$d/gameday-backup.info" 2>/dev/null)
    [[ $e =~ ^[0-9]+$ ]] && echo "${d##*/} $e"
  done
}

take_base_backup() {
  local leader port t0 t1 ts tmp out size
  leader=$(leader_node) || { err "backup: no Patroni node answers /primary"; return 1; }
  port=$(pg_port "$leader")
  backup_prepare || { err "backup: cannot prepare $BACKUP"; return 1; }
  t0=$(now_ms)
  ts=$(date -u -d "@$((t0 / 1000)).$(printf %03d $((t0 % 1000)))" +%Y%m%dT%H%M%S.%3NZ)
  tmp=$BACKUP/base/.partial-$ts
  # What a killed backup left (callers hold the run directory's lock, so no
  # other backup is in progress).
  rm -rf "$BACKUP"/base/.partial-*
  # -c fast: an immediate checkpoint instead of waiting for the next one.
  if ! out=$("${AS_DB[@]}" PGPASSFILE="$BACKUP/pgpass" PGCONNECT_TIMEOUT=5 \
    "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$port" -U replicator -w -D "$tmp" \
    -X stream -c fast -l "gameday $ts" 2>&1); then
    rm -rf "$tmp"
    err "backup: pg_basebackup from $leader (127.0.0.1:$port) failed: $(first_line "$out")"
    return 1
  fi
  t1=$(now_ms)
  # END_MS: the backup is consistent from here on, so only a target after
  # it can be restored from it.
  printf 'START_MS=%s\nEND_MS=%s\nNODE=%s\n' "$t0" "$t1" "$leader" >"$tmp/gameday-backup.info"
  chown "$DB_OS_USER" "$tmp/gameday-backup.info"
  mv "$tmp" "$BACKUP/base/$ts" || { err "backup: cannot rename $tmp"; return 1; }
  size=$(du -sh "$BACKUP/base/$ts" 2>/dev/null | cut -f1)
  say "base backup $ts from $leader in $(fmt_s $((t1 - t0))) (${size:-?}): $BACKUP/base/$ts"
}

# up: the first base backup, once the writer is there.
ensure_base_backup() {
  [ -n "$(base_backups)" ] && return 0
  take_base_backup
}

cmd_backup() {
  [ -f "$DIR/ports.env" ] || { err "no stack in $DIR (no ports.env): run stack.sh up"; exit 1; }
  lock_dir
  take_base_backup || exit 1
}

# status: the archiver (pg_stat_archiver on the leader) and the newest base
# backup. Failing: archiving off or failing now, or no base backup.
check_backups() {
  local out mode count last age failed lastfail failing newest name end detail
  if [ -z "$LEADER" ]; then
    line backups FAIL "no leader to ask about archiving"
    return 1
  fi
  out=$(sql "$(pg_port "$LEADER")" postgres postgres -F ' ' -c \
    "SELECT current_setting('archive_mode'), archived_count, coalesce(last_archived_wal, '-'),
            coalesce(round(extract(epoch FROM now() - last_archived_time))::bigint, -1),
            failed_count, coalesce(last_failed_wal, '-'),
            coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false)
       FROM pg_stat_archiver")
  read -r mode count last age failed lastfail failing <<<"$out"
  if [ "$mode" != on ] && [ "$mode" != always ]; then
    line backups FAIL "archive_mode '$(first_line "$mode")' on $LEADER (a stack from before archiving: down, then up)"
    return 1
  fi
  if [ "$last" = - ]; then
    detail="archiver on $LEADER: nothing archived yet, $failed failed"
  else
    detail="archiver on $LEADER: $count archived, last $last $(fmt_age "$age") ago, $failed failed"
  fi
  if [ "$failing" = t ]; then
    line backups FAIL "$detail; failing now on $lastfail (log: $DIR/$LEADER/log/postgresql.log)"
    return 1
  fi
  newest=$(base_backups | tail -n 1)
  if [ -z "$newest" ]; then
    line backups FAIL "$detail; no base backup in $BACKUP/base (stack.sh backup)"
    return 1
  fi
  read -r name end <<<"$newest"
  line backups ok "$detail; newest base backup $name, $(fmt_age $((($(now_ms) - end) / 1000))) old; in $BACKUP"
}

# ---- restore ----

# WAL file names: TTTTTTTTLLLLLLLLSSSSSSSS (timeline, log id, segment); the
# segment number across log ids depends on the segment size.
SEGS_PER_ID=0
seg_no() { echo $((16#${1:8:8} * SEGS_PER_ID + 16#${1:16:8})); }

# The first segment from FIRST to LAST (file names) that the archive has on
# no timeline, as a file name; fails when there is none.
archive_gap() { # first last
  local f n a b
  local -A have=()
  for f in "$BACKUP"/wal/*; do
    f=${f##*/}
    [[ $f =~ ^[0-9A-F]{24}$ ]] && have[$(seg_no "$f")]=1
  done
  a=$(seg_no "$1") b=$(seg_no "$2")
  for ((n = a; n <= b; n++)); do
    if [ -z "${have[$n]:-}" ]; then
      printf '%s%08X%08X\n' "${2:0:8}" $((n / SEGS_PER_ID)) $((n % SEGS_PER_ID))
      return 0
    fi
  done
  return 1
}

stop_restore_instance() {
  stop_file "restore: postgres" "$RESTORE_PIDFILE" INT "$STOP_TIMEOUT"
  [ -n "$(live_pid "$RESTORE_PIDFILE")" ] || rm -f "$RESTORE_PIDFILE"
}

# A failed restore stops its instance (nothing is left running) and keeps
# its data directory and log for a look; the next restore replaces them.
restore_fail() { # what
  err "restore: $1"
  if live_pid "$RESTORE_PIDFILE" >/dev/null; then stop_restore_instance >&2; fi
  exit 1
}

# The target as epoch ms, PostgreSQL reading whatever text was given (so
# anything recovery_target_time accepts is accepted).
parse_time() { # text where
  local out
  out=$(sql "$WRITER_PORT" postgres postgres -c \
    "SELECT round(extract(epoch FROM '${1//\'/\'\'}'::timestamptz) * 1000)::bigint") ||
    { err "restore: $2: PostgreSQL does not read '$1' as a time: $(first_line "$out")"; exit 2; }
  [[ $out =~ ^[0-9]+$ ]] || { err "restore: $2: '$1' is not a time after 1970"; exit 2; }
  echo "$out"
}

restore_target() {
  local ms src
  if [ -n "$R_TIME" ]; then
    ms=$(parse_time "$R_TIME" --time) || exit 2
    src="--time $R_TIME"
  elif [ -n "$R_TIME_MS" ]; then
    [[ $R_TIME_MS =~ ^[0-9]{1,16}$ ]] || { err "--time-ms: not epoch milliseconds '$R_TIME_MS'"; exit 2; }
    ms=$R_TIME_MS src="--time-ms $R_TIME_MS"
  elif [ -n "${GAMEDAY_T0:-}" ]; then
    ms=$(parse_time "$GAMEDAY_T0" GAMEDAY_T0) || exit 2
    src="GAMEDAY_T0 $GAMEDAY_T0"
  else
    err "restore: no target: give --time T or --time-ms MS (gameday sets GAMEDAY_T0 for exec actions after t0)"
    exit 2
  fi
  [[ $R_OFFSET_MS =~ ^-?[0-9]{1,12}$ ]] || { err "--offset-ms: not a number of milliseconds '$R_OFFSET_MS'"; exit 2; }
  TARGET_MS=$((ms + R_OFFSET_MS))
  TARGET_SRC=$src
  [ "$R_OFFSET_MS" = 0 ] || TARGET_SRC+=", offset $R_OFFSET_MS ms"
}

cmd_restore() {
  local t_start t tables=() tb out seg rc base name end first gap port logn
  local t_archive t_copy t_recover t_back stop_line script counts
  [ -f "$DIR/ports.env" ] || { err "no stack in $DIR (no ports.env): run stack.sh up"; exit 1; }
  IFS=, read -r -a tables <<<"$R_TABLES"
  [ ${#tables[@]} -gt 0 ] || { err "--tables: no table given"; exit 2; }
  for tb in "${tables[@]}"; do
    [[ $tb =~ ^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$ ]] ||
      { err "--tables: not a plain table name '$tb'"; exit 2; }
  done
  restore_target
  t_start=$(now_ms)
  exec 8>"$DIR/.restore.lock"
  flock -n 8 || { err "another stack.sh restore is working on $DIR"; exit 1; }
  if t=$(live_pid "$RESTORE_PIDFILE"); then
    err "restore: a restore instance runs already (pid $t, kept with --keep?): stack.sh down stops it"
    exit 1
  fi
  say "target $(ms_to_time "$TARGET_MS") ($TARGET_SRC); tables ${tables[*]}"

  # (a) Everything up to the target in the archive. Recovery stops at the
  # first commit after the target, so there must be one: a target in the
  # future is waited for, then a transaction commits (txid_current() makes
  # it take an xid, so its commit is logged) and the segment is closed.
  t=$(now_ms)
  if [ "$TARGET_MS" -ge "$t" ]; then
    if [ $((TARGET_MS - t)) -gt $((RESTORE_TIMEOUT * 1000)) ]; then
      restore_fail "the target is $(fmt_s $((TARGET_MS - t))) in the future"
    fi
    say "waiting $(fmt_s $((TARGET_MS - t + 1))) for the target to pass"
    sleep "$(awk -v ms=$((TARGET_MS - t + 1)) 'BEGIN {printf "%.3f", ms / 1000}')"
  fi
  out=$(sql "$WRITER_PORT" postgres "$DB_NAME" -c "SELECT txid_current()") ||
    restore_fail "writer endpoint 127.0.0.1:$WRITER_PORT: $(first_line "$out")"
  seg=$(sql "$WRITER_PORT" postgres postgres -c "SELECT pg_walfile_name(pg_switch_wal())") ||
    restore_fail "pg_switch_wal through the writer endpoint: $(first_line "$seg")"
  [[ $seg =~ ^[0-9A-F]{24}$ ]] || restore_fail "pg_switch_wal: unexpected answer '$seg'"
  out=$(sql "$WRITER_PORT" postgres postgres -c \
    "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'")
  [[ $out =~ ^[0-9]+$ ]] || restore_fail "wal_segment_size: unexpected answer '$(first_line "$out")'"
  SEGS_PER_ID=$((0x100000000 / out))
  t=$(now_ms)
  until [ -f "$BACKUP/wal/$seg" ]; do
    if [ $(($(now_ms) - t)) -ge $((RESTORE_TIMEOUT * 1000)) ]; then
      out=$(sql "$WRITER_PORT" postgres postgres -F ' ' -c \
        "SELECT failed_count, coalesce(last_failed_wal, '-') FROM pg_stat_archiver")
      restore_fail "$seg not archived into $BACKUP/wal within ${RESTORE_TIMEOUT}s (pg_stat_archiver: failed_count, last_failed_wal: $(first_line "$out"))"
    fi
    sleep 0.1
  done
  t_archive=$(($(now_ms) - t_start))
  say "archived up to $seg in $(fmt_s "$t_archive")"

  # (b) The newest base backup complete before the target, the archive
  # without gaps from its start to now, and a fresh instance recovering to
  # the target.
  base=$(base_backups | awk -v t="$TARGET_MS" '$2 < t {b = $1} END {print b}')
  if [ -z "$base" ]; then
    first=$(base_backups | head -n 1)
    [ -z "$first" ] || first="the oldest, ${first% *}, completed at $(ms_to_time "${first#* }")"
    restore_fail "no base backup completed before the target $(ms_to_time "$TARGET_MS") in $BACKUP/base (${first:-there is none}); take one with stack.sh backup"
  fi
  first=$(sed -n 's/^START WAL LOCATION: .*(file \([0-9A-F]\{24\}\))$/\1/p' "$BACKUP/base/$base/backup_label")
  [ -n "$first" ] || restore_fail "$BACKUP/base/$base/backup_label: no START WAL LOCATION"
  if gap=$(archive_gap "$first" "$seg"); then
    restore_fail "archive gap: WAL segment $gap (or the same segment on another timeline) is not in $BACKUP/wal; the restore needs every segment from base backup $base ($first) to $seg"
  fi
  say "base backup $base (WAL from $first)"
  t=$(now_ms)
  rm -rf "$RESTORE_DIR/data"
  install -d -o "$DB_OS_USER" -m 0700 "$RESTORE_DIR" || restore_fail "cannot create $RESTORE_DIR"
  out=$("${AS_DB[@]}" cp -a "$BACKUP/base/$base" "$RESTORE_DIR/data" 2>&1) ||
    restore_fail "copying the base backup: $(first_line "$out")"
  rm -f "$RESTORE_DIR/data/gameday-backup.info"
  "${AS_DB[@]}" touch "$RESTORE_DIR/data/recovery.signal"
  t_copy=$(($(now_ms) - t))
  port=$(/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])') || restore_fail "no free port on 127.0.0.1"
  logn=0
  [ ! -f "$DIR/log/restore.log" ] || logn=$(wc -l <"$DIR/log/restore.log")
  t=$(now_ms)
  # The configuration came with the backup (Patroni's, for the node it was
  # taken from): what must differ is given on the command line, which
  # wins. No archiving: the restore's own timeline stays out of the archive.
  spawn "restore: postgres" "$RESTORE_PIDFILE" "$DIR/log/restore.log" \
    "${AS_DB[@]}" "$PG_BIN/postgres" -D "$RESTORE_DIR/data" \
    -c port="$port" -c listen_addresses=127.0.0.1 -c unix_socket_directories= \
    -c hba_file="$RESTORE_DIR/data/pg_hba.conf" -c ident_file="$RESTORE_DIR/data/pg_ident.conf" \
    -c logging_collector=off -c cluster_name=gameday-restore \
    -c archive_mode=off -c primary_conninfo= -c primary_slot_name= \
    -c restore_command="cp $BACKUP/wal/%f %p" \
    -c recovery_target_time="$(ms_to_pgtime "$TARGET_MS")" \
    -c recovery_target_inclusive=off -c recovery_target_action=promote \
    -c recovery_target_timeline=latest
  until [ "$(sql "$port" postgres postgres -c 'SELECT pg_is_in_recovery()')" = f ]; do
    if ! live_pid "$RESTORE_PIDFILE" >/dev/null; then
      out=$(tail -n +"$((logn + 1))" "$DIR/log/restore.log" | grep -E 'FATAL|PANIC' | tail -n 2)
      case $out in
        *"before configured recovery target"*)
          restore_fail "recovery ended before reaching the target: the archive ends before it, or has a gap ($out; log: $DIR/log/restore.log)" ;;
      esac
      restore_fail "the restore instance exited: ${out:-see the log} (log: $DIR/log/restore.log)"
    fi
    if [ $(($(now_ms) - t)) -ge $((RESTORE_TIMEOUT * 1000)) ]; then
      restore_fail "the restore instance was not promoted within ${RESTORE_TIMEOUT}s (log: $DIR/log/restore.log)"
    fi
    sleep 0.2
  done
  t_recover=$(($(now_ms) - t))
  stop_line=$(tail -n +"$((logn + 1))" "$DIR/log/restore.log" | grep -o 'recovery stopping .*' | head -n 1)
  say "recovered and promoted on 127.0.0.1:$port in $(fmt_s "$t_recover"): ${stop_line:-no commit after the target was replayed}"

  # (c) The restored tables replace the current ones in one transaction on
  # the leader, through the writer endpoint: readers see the old rows or the
  # restored ones, never a mix.
  t=$(now_ms)
  script=$RESTORE_DIR/copy-back.sql
  echo "SET LOCAL lock_timeout = '10s';" >"$script"
  for tb in "${tables[@]}"; do
    out=$(sql "$port" postgres "$DB_NAME" -c "\\copy $tb TO '$RESTORE_DIR/$tb.copy'") ||
      restore_fail "reading $tb from the restored instance: $(first_line "$out")"
    printf 'DELETE FROM %s;\n\\copy %s FROM %s\n' "$tb" "$tb" "'$RESTORE_DIR/$tb.copy'" >>"$script"
  done
  for tb in "${tables[@]}"; do printf "SELECT '%s', count(*) FROM %s;\n" "$tb" "$tb" >>"$script"; done
  counts=$(sql "$WRITER_PORT" postgres "$DB_NAME" -1 -F ' ' -f "$script") ||
    restore_fail "copying back through the writer endpoint 127.0.0.1:$WRITER_PORT (nothing changed): $(first_line "$counts")"
  t_back=$(($(now_ms) - t))
  while read -r tb n; do
    [ -n "$tb" ] && say "restored $tb: $n rows"
  done <<<"$counts"

  # (d) The instance goes; its data too unless kept.
  rm -f "$RESTORE_DIR"/*.copy "$script"
  if [ "$R_KEEP" = 1 ]; then
    say "kept: the restored instance runs on 127.0.0.1:$port (pid $(pid_of "$RESTORE_PIDFILE"), data $RESTORE_DIR/data); stack.sh down stops it"
  else
    stop_restore_instance
    rm -rf "$RESTORE_DIR/data"
  fi
  say "done in $(fmt_s $(($(now_ms) - t_start))): archive $(fmt_s "$t_archive"), base copy $(fmt_s "$t_copy"), recovery $(fmt_s "$t_recover"), copy back $(fmt_s "$t_back")"
}

# ---- status, leader ----

cmd_status() {
  if [ ! -f "$DIR/ports.env" ]; then
    err "no stack in $DIR (no ports.env): run stack.sh up"
    exit 1
  fi
  if [ -n "$ONLY" ]; then
    # Only some parts (a readiness check asks about one thing): every part
    # is still checked, since some depend on others (the leader, HAProxy's
    # stats), and the lines of the parts asked for decide. A part name also
    # matches its numbered instances: "worker" is worker-1, worker-2, ...
    local part l name st rest shown=0 bad=0
    check_all
    IFS=, read -r -a parts <<<"$ONLY"
    for l in "${STATUS_LINES[@]}"; do
      read -r name st rest <<<"$l"
      for part in "${parts[@]}"; do
        if [ "$name" = "$part" ] || [[ $name == "$part"-[0-9]* ]]; then
          printf '%s\n' "$l"
          shown=$((shown + 1))
          [ "$st" = ok ] || bad=1
        fi
      done
    done
    if [ "$shown" = 0 ]; then
      err "--only '$ONLY': no such part (see stack.sh status)"
      exit 2
    fi
    exit "$bad"
  fi
  if check_all; then
    print_status
    exit 0
  fi
  print_status
  exit 1
}

cmd_leader() {
  local n
  [ -f "$DIR/ports.env" ] || { err "no stack in $DIR (no ports.env)"; exit 1; }
  for n in "${NODES[@]}"; do
    if [ "$(http_code "http://127.0.0.1:$(api_port "$n")/primary")" = 200 ]; then
      echo "$n"
      exit 0
    fi
  done
  err "no Patroni node answers /primary"
  exit 1
}

# ---- down ----

STOP_FAILED=0
SESSIONS=()

# Remembers the session of a live process of ours, for the final sweep.
note_session() {
  local s
  s=$(stat_field "$1" 6) || return 0
  SESSIONS+=("$s")
}

stop_pid() { # name pid signal timeout_s
  local name=$1 pid=$2 sig=$3 t=$4
  say "stopping $name (pid $pid)"
  kill -s "$sig" "$pid" 2>/dev/null
  if ! wait_gone "$pid" "$t"; then
    say "$name (pid $pid) still running after ${t}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    if ! wait_gone "$pid" 5; then
      err "$name (pid $pid) survived SIGKILL"
      STOP_FAILED=1
      return 1
    fi
  fi
}

stop_file() { # name pidfile signal timeout_s
  local pid
  pid=$(live_pid "$2") || return 0
  stop_pid "$1" "$pid" "$3" "$4"
}

# Every process left in a session one of our daemons started (web instances
# of a supervisord that was killed, backends of a postmaster, a Patroni
# callback) is ours too: a session id is not a name.
sweep_sessions() {
  local mine s p sid left=()
  mine=$(stat_field $$ 6)
  for s in $(printf '%s\n' "${SESSIONS[@]}" | sort -u); do
    if [ "$s" -le 1 ] || [ "$s" = "$mine" ]; then continue; fi
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      [ "$p" != $$ ] || continue
      sid=$(stat_field "$p" 6) || continue
      [ "$sid" = "$s" ] && alive "$p" && left+=("$p")
    done
  done
  [ ${#left[@]} -gt 0 ] || return 0
  say "stopping leftover processes: ${left[*]}"
  kill -TERM "${left[@]}" 2>/dev/null
  for p in "${left[@]}"; do
    wait_gone "$p" 5 && continue
    kill -KILL "$p" 2>/dev/null
    wait_gone "$p" 5 || { err "pid $p survived SIGKILL"; STOP_FAILED=1; }
  done
}

cmd_down() {
  local f p n i order=() leader=
  if [ ! -d "$DIR" ]; then
    say "nothing in $DIR"
    exit 0
  fi
  lock_dir
  # Sessions recorded at spawn time and those of whatever runs now.
  if [ -f "$DIR/run/sessions" ]; then
    while read -r p; do [[ $p =~ ^[0-9]+$ ]] && SESSIONS+=("$p"); done <"$DIR/run/sessions"
  fi
  for f in "$DIR"/*.pid "$DIR"/pg*/postgres.pid "$DIR"/pg*/data/postmaster.pid; do
    p=$(live_pid "$f") && note_session "$p"
  done

  # Front to back: stop taking traffic, then the web tier, then the database
  # (replicas before the leader, so nothing fails over on the way down).
  stop_file haproxy "$DIR/haproxy.pid" TERM "$STOP_TIMEOUT"
  stop_file supervisord "$DIR/supervisord.pid" TERM "$STOP_TIMEOUT"
  for f in "$DIR"/web-*.pid; do
    n=${f##*/}
    stop_file "${n%.pid}" "$f" TERM 5
  done
  queue_stop
  if [ -f "$DIR/ports.env" ]; then
    for n in "${NODES[@]}"; do
      [ "$(http_code "http://127.0.0.1:$(api_port "$n")/primary" 1)" = 200 ] && leader=$n
    done
  fi
  for n in "${NODES[@]}"; do [ "$n" = "$leader" ] || order+=("$n"); done
  [ -z "$leader" ] || order+=("$leader")
  for n in "${order[@]}"; do
    i=${n#pg}
    stop_file "$n: patroni" "$DIR/patroni$i.pid" TERM "$STOP_TIMEOUT"
    # Patroni stops its PostgreSQL; one it left behind gets a fast shutdown.
    stop_file "$n: postgres" "$DIR/$n/data/postmaster.pid" INT "$STOP_TIMEOUT"
  done
  stop_file etcd "$DIR/etcd.pid" TERM "$STOP_TIMEOUT"
  stop_restore_instance
  sweep_sessions

  if [ "$STOP_FAILED" != 0 ]; then
    err "some processes could not be stopped (see above)"
    exit 1
  fi
  rm -f "$DIR"/etcd.pid "$DIR"/haproxy.pid "$DIR"/supervisord.pid "$DIR"/patroni*.pid \
    "$DIR"/web-*.pid "$DIR"/pg*/postgres.pid "$DIR/run/sessions" "$DIR/haproxy.sock" \
    "$DIR/supervisor.sock"
  if [ "$PURGE" = 1 ]; then
    if [ -f "$DIR/.gameday-stack" ]; then
      rm -rf "$DIR"
      say "stopped; $DIR removed"
      exit 0
    fi
    err "--purge: $DIR is not a stack directory (no .gameday-stack); not removed"
    exit 1
  fi
  say "stopped; data and logs kept in $DIR"
}

"cmd_$cmd"
