#!/usr/bin/env bash
# Start a throwaway Ceph cluster (one monitor, one in-memory "memstore" OSD, no
# manager, cephx disabled) plus a radosgw S3 gateway, all on 127.0.0.1, with one
# S3 user. Used by .ci/run and by hand to test the proxy against a gateway that
# really verifies V2/V4 signatures, payload hashes and aws-chunked data-chunk
# signatures (radosgw 16.x does not check the final zero-length chunk).
#
# Usage:   scripts/radosgw-up.sh DIR ACCESS_KEY SECRET_KEY
# Stop:    scripts/radosgw-down.sh DIR
# Result:  DIR/env (source it) exports ZSP_RADOSGW_URL, ZSP_RADOSGW_ACCESS_KEY,
#          ZSP_RADOSGW_SECRET_KEY, ZSP_RADOSGW_REGION and ZSP_RADOSGW_DIR;
#          DIR/{mon,osd,rgw}.pid hold the daemons' PIDs; logs are in DIR/log/.
#
# Needs (Debian 12): apt-get install --no-install-recommends radosgw ceph-mon ceph-osd curl
# and python3 (to let the kernel pick free ports).
#
# Optional environment:
#   ZSP_RADOSGW_MEMSTORE_BYTES  OSD capacity in bytes (default 2 GiB, held in RAM)
#   ZSP_RADOSGW_DEBUG           radosgw debug level, e.g. 20 to log every
#                               string-to-sign (default 1)
#   ZSP_RADOSGW_TIMEOUT         seconds to wait for each step (default 90)
set -euo pipefail

usage() { echo "usage: $0 DIR ACCESS_KEY SECRET_KEY" >&2; exit 2; }
[ $# -eq 3 ] || usage
DIR=$1 AK=$2 SK=$3
[ -n "$DIR" ] && [ -n "$AK" ] && [ -n "$SK" ] || usage

MEMSTORE_BYTES=${ZSP_RADOSGW_MEMSTORE_BYTES:-2147483648}
DEBUG_RGW=${ZSP_RADOSGW_DEBUG:-1}
STEP_TIMEOUT=${ZSP_RADOSGW_TIMEOUT:-90}

# fd 3 is the real stderr, so that messages from inside redirected checks show.
exec 3>&2
log() { printf '[radosgw-up %s] %s\n' "$(date +%H:%M:%S)" "$*" >&3; }
die() {
    log "ERROR: $*"
    for f in "$DIR"/log/*.log "$DIR"/log/*.out; do
        [ -s "$f" ] || continue
        echo "---- last lines of $f ----" >&3
        tail -n 8 "$f" >&3
    done
    exit 1
}

for tool in ceph ceph-mon ceph-osd ceph-authtool monmaptool radosgw radosgw-admin curl python3 timeout; do
    command -v "$tool" >/dev/null 2>&1 \
        || { echo "radosgw-up: '$tool' not found (apt-get install --no-install-recommends radosgw ceph-mon ceph-osd curl)" >&2; exit 1; }
done

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
# Unix admin sockets live under DIR/run and must fit in sun_path (108 bytes).
if [ ${#DIR} -gt 70 ]; then
    echo "radosgw-up: DIR path too long for ceph's unix sockets (${#DIR} > 70 chars): $DIR" >&2
    exit 1
fi
# Refuse to reuse a directory whose daemons are still running.
for name in mon osd rgw; do
    if [ -s "$DIR/$name.pid" ] && kill -0 "$(cat "$DIR/$name.pid")" 2>/dev/null; then
        echo "radosgw-up: $DIR/$name.pid is alive; run scripts/radosgw-down.sh $DIR first" >&2
        exit 1
    fi
done
# Only our own subdirectories and files are cleared, never DIR itself.
rm -rf "$DIR"/run "$DIR"/log "$DIR"/mon "$DIR"/osd "$DIR"/rgw
rm -f "$DIR"/ceph.conf "$DIR"/keyring "$DIR"/monmap "$DIR"/env "$DIR"/*.pid
mkdir -p "$DIR"/run "$DIR"/log "$DIR"/mon "$DIR"/osd "$DIR"/rgw

# If this script fails half-way, stop whatever it started.
STARTED=()
cleanup_on_error() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ ${#STARTED[@]} -gt 0 ]; then
        log "startup failed (exit $rc); stopping PIDs ${STARTED[*]}"
        kill "${STARTED[@]}" 2>/dev/null || true
        sleep 1
        kill -9 "${STARTED[@]}" 2>/dev/null || true
        rm -f "$DIR"/*.pid "$DIR"/env
    fi
}
trap cleanup_on_error EXIT

# Ask the kernel for N distinct free loopback TCP ports.
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# wait_for DESCRIPTION COMMAND...: retry COMMAND once a second until it
# succeeds or STEP_TIMEOUT seconds have passed.
wait_for() {
    local what=$1; shift
    local deadline=$((SECONDS + STEP_TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            die "timed out after ${STEP_TIMEOUT}s waiting for $what"
        fi
        sleep 1
    done
}

alive() { kill -0 "$1" 2>/dev/null; }

read -r MON_V2 MON_V1 < <(free_ports 2) || true
[ -n "${MON_V2:-}" ] && [ -n "${MON_V1:-}" ] || die "could not pick free ports with python3"
FSID=$(cat /proc/sys/kernel/random/uuid)
CONF="$DIR/ceph.conf"

write_conf() {
    local rgw_port=$1
    cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]
mon initial members = a
public network = 127.0.0.0/8
ms bind ipv6 = false
# No cephx: this cluster lives for one test run on loopback only.
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
# One OSD: single-replica pools, small PG counts, no manager.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail crit = 1
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
mon data = $DIR/mon/\$cluster-\$id
osd data = $DIR/osd/\$cluster-\$id
keyring = $DIR/keyring

[client.rgw.a]
# radosgw asks for a 'secure' monitor session by default, which needs cephx.
ms mon client mode = crc secure
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $DIR/rgw
# No 'rgw dns name': every request is path-style (http://host:port/bucket/key),
# whatever the Host header says.
# Tests send SSE-C and similar headers over plain HTTP.
rgw crypt require ssl = false
rgw enable usage log = false
debug rgw = $DEBUG_RGW
EOF
}

write_conf 0
ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$DIR/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' >/dev/null
ceph-authtool "$DIR/keyring" --gen-key -n client.rgw.a --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
monmaptool --create --addv a "[v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]" --fsid "$FSID" "$DIR/monmap" >/dev/null

log "monitor on 127.0.0.1:$MON_V2 (v2) / $MON_V1 (v1)"
timeout "$STEP_TIMEOUT" ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring" \
    >"$DIR/log/mon-mkfs.out" 2>&1 || die "ceph-mon --mkfs failed"
ceph-mon -c "$CONF" -i a -f >"$DIR/log/mon.out" 2>&1 </dev/null &
MON_PID=$!; STARTED+=("$MON_PID"); echo "$MON_PID" >"$DIR/mon.pid"
mon_ready() { alive "$MON_PID" || die "ceph-mon exited"; timeout 10 ceph -c "$CONF" mon stat; }
wait_for "the monitor to answer" mon_ready

log "creating the memstore OSD ($MEMSTORE_BYTES bytes)"
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(timeout 30 ceph -c "$CONF" osd new "$OSD_UUID") || die "'ceph osd new' failed"
mkdir -p "$DIR/osd/ceph-$OSD_ID"
timeout "$STEP_TIMEOUT" ceph-osd -c "$CONF" -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" \
    >"$DIR/log/osd-mkfs.out" 2>&1 || die "ceph-osd --mkfs failed"
ceph-osd -c "$CONF" -i "$OSD_ID" -f >"$DIR/log/osd.out" 2>&1 </dev/null &
OSD_PID=$!; STARTED+=("$OSD_PID"); echo "$OSD_PID" >"$DIR/osd.pid"
osd_up() {
    alive "$OSD_PID" || die "ceph-osd exited"
    timeout 10 ceph -c "$CONF" osd dump --format json \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["osds"] and all(o["up"] and o["in"] for o in d["osds"]) else 1)'
}
wait_for "the OSD to be up and in" osd_up

# The kernel picks the port; if something grabs it before radosgw binds, try another.
RGW_PORT=
for attempt in 1 2 3; do
    port=
    read -r port < <(free_ports 1) || true
    [ -n "$port" ] || die "could not pick a free port with python3"
    write_conf "$port"
    log "starting radosgw on 127.0.0.1:$port (attempt $attempt)"
    radosgw -c "$CONF" -n client.rgw.a -f >"$DIR/log/rgw.out" 2>&1 </dev/null &
    RGW_PID=$!; STARTED+=("$RGW_PID"); echo "$RGW_PID" >"$DIR/rgw.pid"
    deadline=$((SECONDS + STEP_TIMEOUT))
    while alive "$RGW_PID" && [ "$SECONDS" -lt "$deadline" ]; do
        if curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$port/"; then
            RGW_PORT=$port
            break 2
        fi
        sleep 1
    done
    if alive "$RGW_PID"; then
        die "timed out after ${STEP_TIMEOUT}s waiting for radosgw on port $port"
    fi
    if ! grep -qi 'address already in use' "$DIR/log/rgw.out" "$DIR/log/client.rgw.a.log" 2>/dev/null; then
        die "radosgw exited during startup"
    fi
    log "port $port was taken, retrying"
done
[ -n "$RGW_PORT" ] || die "radosgw could not bind a port"

log "creating S3 user 'zsp-test'"
# --admin-socket= : the running radosgw already owns client.rgw.a's admin socket.
timeout "$STEP_TIMEOUT" radosgw-admin -c "$CONF" -n client.rgw.a --admin-socket= user create \
    --uid=zsp-test --display-name="zenko-signing-proxy tests" \
    --access-key="$AK" --secret-key="$SK" >"$DIR/log/user-create.out" 2>&1 \
    || die "radosgw-admin user create failed (see $DIR/log/user-create.out)"

URL="http://127.0.0.1:$RGW_PORT"
{
    printf 'export ZSP_RADOSGW_URL=%q\n' "$URL"
    printf 'export ZSP_RADOSGW_ACCESS_KEY=%q\n' "$AK"
    printf 'export ZSP_RADOSGW_SECRET_KEY=%q\n' "$SK"
    # radosgw accepts any region name in the V4 credential scope; us-east-1 is what clients default to.
    printf 'export ZSP_RADOSGW_REGION=%q\n' "us-east-1"
    printf 'export ZSP_RADOSGW_DIR=%q\n' "$DIR"
} >"$DIR/env.tmp"
chmod 600 "$DIR/env.tmp"
mv "$DIR/env.tmp" "$DIR/env"

trap - EXIT
log "radosgw ready at $URL (pids mon=$MON_PID osd=$OSD_PID rgw=$RGW_PID); env in $DIR/env"
