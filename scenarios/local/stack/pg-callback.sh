#!/bin/sh
# Patroni callback: pg-callback.sh NODEDIR ACTION ROLE SCOPE (Patroni appends
# the last three). Keeps NODEDIR/postgres.pid holding only the postmaster's pid
# (postmaster.pid has more lines, which pidfile readers reject).
nodedir=$1 action=${2:-}
case $action in
  on_stop)
    rm -f "$nodedir/postgres.pid"
    ;;
  *)
    pid=$(head -n 1 "$nodedir/data/postmaster.pid" 2>/dev/null) || exit 0
    case $pid in '' | *[!0-9]*) exit 0 ;; esac
    printf '%s\n' "$pid" >"$nodedir/postgres.pid.tmp" &&
      mv -f "$nodedir/postgres.pid.tmp" "$nodedir/postgres.pid"
    ;;
esac
exit 0
