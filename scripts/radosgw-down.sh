#!/usr/bin/env bash
# Stop the cluster that scripts/radosgw-up.sh started in DIR: radosgw, then the
# OSD, then the monitor, each by the PID in its pid file. A PID is only signalled
# while it still runs the program that the pid file names, so a stale file never
# hits an unrelated process. Waits up to ~20 s per daemon, then uses SIGKILL.
#
# Usage: scripts/radosgw-down.sh DIR
set -uo pipefail

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$1
[ -d "$DIR" ] || { echo "radosgw-down: no such directory: $DIR" >&2; exit 1; }

rc=0
# running PID: true while PID exists and is not a zombie waiting to be reaped.
running() {
    local state
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
# stop NAME PROGRAM: stop the process in DIR/NAME.pid if it runs PROGRAM.
stop() {
    local name=$1 prog=$2 pidfile="$DIR/$1.pid" pid comm
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    case $pid in '' | *[!0-9]*) echo "radosgw-down: bad pid in $pidfile" >&2; rc=1; return ;; esac
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    if [ -z "$comm" ] || [ "${comm%% *}" != "$prog" ]; then
        rm -f "$pidfile"  # already gone (or the PID was reused by something else)
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
        running "$pid" || break
        sleep 0.5
    done
    if running "$pid"; then
        echo "radosgw-down: $name (pid $pid) ignored SIGTERM for 20 s; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do
            running "$pid" || break
            sleep 0.5
        done
    fi
    if running "$pid"; then
        echo "radosgw-down: $name (pid $pid) is still running" >&2
        rc=1
    else
        rm -f "$pidfile"
    fi
}

# /proc/PID/comm is truncated to 15 characters.
stop rgw radosgw
stop osd ceph-osd
stop mon ceph-mon
exit "$rc"
