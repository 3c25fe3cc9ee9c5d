#!/bin/sh
# One web instance of the local staging stack, as supervisord runs it:
#   web-instance.sh RUNDIR K PORT CONTROL_PORT FAULTSERVER DELAY_S
# The first start is immediate; every later start (supervisord replacing an
# instance that died) first waits DELAY_S, the time a real replacement
# instance takes to boot. The stale pidfile of the dead instance is removed at
# once, so RUNDIR/web-*.pid names only live instances.
set -eu
dir=$1 k=$2 port=$3 ctl=$4 bin=$5 delay=$6
pidfile=$dir/web-$k.pid
marker=$dir/run/web-$k.started

rm -f "$pidfile"
if [ -e "$marker" ]; then
  echo "web-$k: replacing the instance in ${delay}s"
  sleep "$delay"
fi
: >"$marker"
exec "$bin" --host 127.0.0.1 --port "$port" --control-port "$ctl" \
  --pidfile "$pidfile"
